-- Spare tenant schemas, created and migrated ahead of need, so that creating
-- a tenant only renames one (ALTER SCHEMA … RENAME). fingerprint identifies
-- the exact migrations applied (a hash of their files), so a spare is handed
-- out only when it matches the running binary's migrations.
CREATE TABLE control.spare_schemas (
    name           text PRIMARY KEY CHECK (name ~ '^bulkhead_spare_[0-9a-f]{16}$'),
    schema_version integer NOT NULL,
    fingerprint    text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spare_schemas_fingerprint_idx ON control.spare_schemas (fingerprint, created_at);
