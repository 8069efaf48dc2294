-- Substring filters (co, ew) on userName and emails use trigram indexes.
-- fastupdate is off: SCIM writes one resource at a time, and a pending list
-- would make every search scan it until the next vacuum.
CREATE INDEX users_user_name_trgm_idx ON users
    USING gin (lower(user_name) public.gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX user_emails_value_trgm_idx ON user_emails
    USING gin (lower(value) public.gin_trgm_ops) WITH (fastupdate = off);
