-- Every change to a tenant, its permissions or its tokens is announced on
-- the channel bulkhead_tenant_changes with the tenant id, when the
-- transaction commits. Each server instance listens and drops what it cached
-- about the tenant, so changes made anywhere (console, CLI, plain SQL) are in
-- force everywhere at once.
-- TG_ARGV[0] names the column holding the tenant id.
CREATE FUNCTION control.notify_tenant_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bulkhead_tenant_changes',
        COALESCE(to_jsonb(NEW), to_jsonb(OLD)) ->> TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_notify AFTER UPDATE OR DELETE ON control.tenants
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('id');
CREATE TRIGGER tenant_permissions_notify AFTER UPDATE OR DELETE ON control.tenant_permissions
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('tenant_id');
CREATE TRIGGER tokens_notify AFTER UPDATE OR DELETE ON control.tokens
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('tenant_id');
