-- Per-tenant SCIM schema extensions of User or Group, defined by staff.
-- definition is the extension as scim.ExtensionDef writes it. A removed
-- extension keeps its row (removed_at set) and the tenant's stored values
-- until staff purge it, which deletes the row; adding it again brings the
-- values back.
CREATE TABLE control.schema_extensions (
    tenant_id     text NOT NULL REFERENCES control.tenants (id) ON DELETE CASCADE,
    urn           text NOT NULL,
    resource_type text NOT NULL CHECK (resource_type IN ('User', 'Group')),
    definition    jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    removed_at    timestamptz
);
CREATE UNIQUE INDEX schema_extensions_urn_key ON control.schema_extensions (tenant_id, lower(urn));

-- Every change evicts what each instance cached about the tenant, so the
-- tenant's SCIM endpoints serve the new schemas within moments.
CREATE TRIGGER schema_extensions_notify AFTER INSERT OR UPDATE OR DELETE ON control.schema_extensions
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('tenant_id');
