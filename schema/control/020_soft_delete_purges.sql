-- The background purge of soft-deleted users (tenant.Purger): when each
-- tenant with soft_delete on was last looked at. Instances claim the
-- tenants not looked at for a while under an advisory lock and stamp them
-- here before purging, so that the others pass them by. Kept apart from
-- control.tenant_permissions, whose updates evict cached principals.
CREATE TABLE control.soft_delete_purges (
    tenant_id  text PRIMARY KEY REFERENCES control.tenants (id) ON DELETE CASCADE,
    checked_at timestamptz NOT NULL
);
