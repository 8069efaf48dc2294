-- Soft deletion of users (the tenant flag soft_delete): a deleted user's
-- row stays, marked with when it was deleted, hidden from SCIM until it is
-- restored by a POST with its userName or purged. The code reads the column
-- only for tenants with the flag on, which can be turned on only once the
-- column exists, so it is right on both sides of this migration.
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
CREATE INDEX users_deleted_at_idx ON users (deleted_at) WHERE deleted_at IS NOT NULL;
