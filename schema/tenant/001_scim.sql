-- SCIM Users and Groups of one tenant. Runs with search_path set to the
-- tenant's schema: never name a schema here.
--
-- Each resource keeps the columns people filter and sort on, indexed, and the
-- whole resource (canonical attribute names, without id, meta and members) as
-- jsonb in data.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    user_name     text NOT NULL,
    external_id   text,
    display_name  text,
    active        boolean NOT NULL DEFAULT true,
    password_hash text,
    data          jsonb NOT NULL,
    version       bigint NOT NULL DEFAULT 1,
    created       timestamptz NOT NULL DEFAULT now(),
    last_modified timestamptz NOT NULL DEFAULT now()
);
-- userName is unique case-insensitively (RFC 7643 §4.1.1: caseExact false).
CREATE UNIQUE INDEX users_user_name_key ON users (lower(user_name));
CREATE INDEX users_user_name_pattern_idx ON users (lower(user_name) text_pattern_ops);
CREATE INDEX users_external_id_idx ON users (external_id);
CREATE INDEX users_display_name_idx ON users (lower(display_name));
CREATE INDEX users_active_idx ON users (active);
CREATE INDEX users_created_idx ON users (created, id);
CREATE INDEX users_last_modified_idx ON users (last_modified, id);

-- One row per email of a user, so that emails.value filters use an index.
CREATE TABLE user_emails (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value      text NOT NULL,
    type       text,
    is_primary boolean NOT NULL DEFAULT false
);
CREATE INDEX user_emails_user_id_idx ON user_emails (user_id);
CREATE INDEX user_emails_value_idx ON user_emails (lower(value) text_pattern_ops);

CREATE TABLE groups (
    id            uuid PRIMARY KEY,
    display_name  text NOT NULL,
    external_id   text,
    data          jsonb NOT NULL,
    version       bigint NOT NULL DEFAULT 1,
    created       timestamptz NOT NULL DEFAULT now(),
    last_modified timestamptz NOT NULL DEFAULT now()
);
-- Group names are unique case-insensitively, so that an IdP retrying a
-- create gets 409 instead of a duplicate group (advertised in /Schemas as
-- uniqueness "server").
CREATE UNIQUE INDEX groups_display_name_key ON groups (lower(display_name));
CREATE INDEX groups_external_id_idx ON groups (external_id);
CREATE INDEX groups_created_idx ON groups (created, id);
CREATE INDEX groups_last_modified_idx ON groups (last_modified, id);

-- Group membership as rows: adding or removing one member touches one row.
-- member_id names a user or a group (member_type); a user's memberships are
-- deleted with the user by the store, a group's by the cascade below.
CREATE TABLE group_members (
    group_id    uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id   uuid NOT NULL,
    member_type text NOT NULL CHECK (member_type IN ('User', 'Group')),
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member_id_idx ON group_members (member_id);
