-- Row counts kept by triggers, so that quotas and usage never count a table.
-- A create checks its quota by locking its counter row (SELECT … FOR UPDATE),
-- which serializes concurrent creates of one tenant just long enough to make
-- the check exact.
CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value)
SELECT 'users', count(*) FROM users
UNION ALL SELECT 'groups', count(*) FROM groups
UNION ALL SELECT 'group_members', count(*) FROM group_members;

-- One function serves every table: TG_ARGV[0] names the counter. It finds
-- the counters table through the schema of the table that fired it, so it
-- works whatever the search_path and survives a rename of the schema.
CREATE FUNCTION count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM new_rows;
    ELSE
        SELECT -count(*) INTO delta FROM old_rows;
    END IF;
    IF delta <> 0 THEN
        EXECUTE format('UPDATE %I.counters SET value = value + $1 WHERE name = $2', TG_TABLE_SCHEMA)
            USING delta, TG_ARGV[0];
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('users');
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('users');
CREATE TRIGGER groups_count_insert AFTER INSERT ON groups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('groups');
CREATE TRIGGER groups_count_delete AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('groups');
CREATE TRIGGER group_members_count_insert AFTER INSERT ON group_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('group_members');
CREATE TRIGGER group_members_count_delete AFTER DELETE ON group_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_rows('group_members');
