-- Per-tenant SCIM behaviour: a named profile and the flags it sets, kept
-- beside the permissions so that the principal reads them in the same row
-- and the permissions' change trigger evicts them from every cache.
-- Existing tenants keep today's behaviour, which is the entra profile.
ALTER TABLE control.tenant_permissions
    ADD COLUMN profile           text    NOT NULL DEFAULT 'entra'
        CHECK (profile IN ('entra', 'okta', 'rfc', 'generic')),
    ADD COLUMN require_if_match  boolean NOT NULL DEFAULT false,
    ADD COLUMN strict_schemas    boolean NOT NULL DEFAULT false,
    ADD COLUMN soft_delete       boolean NOT NULL DEFAULT false,
    ADD COLUMN replace_no_target text    NOT NULL DEFAULT 'add'
        CHECK (replace_no_target IN ('add', 'error'));
