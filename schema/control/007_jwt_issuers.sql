-- Trusted JWT issuers, per tenant. A tenant's SCIM clients may present a JWT
-- instead of an opaque token when it is signed by one of these.
-- key_material is what verifies: for HS256 the shared secret itself (it must
-- be stored to verify; never shown again), for RS256 and ES256 a PEM public
-- key or a JWKS document. One issuer may be registered more than once, so
-- that a key can be rotated with overlap.
CREATE TABLE control.jwt_issuers (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES control.tenants (id) ON DELETE CASCADE,
    issuer       text NOT NULL CHECK (issuer <> ''),
    audience     text NOT NULL DEFAULT '',
    algorithm    text NOT NULL CHECK (algorithm IN ('HS256', 'RS256', 'ES256')),
    key_material bytea NOT NULL,
    key_summary  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX jwt_issuers_tenant_id_idx ON control.jwt_issuers (tenant_id, issuer);

-- Adding, changing or removing an issuer evicts what every instance cached
-- about the tenant; recording its last use does not.
CREATE TRIGGER jwt_issuers_notify AFTER INSERT OR DELETE ON control.jwt_issuers
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('tenant_id');
CREATE TRIGGER jwt_issuers_notify_update
    AFTER UPDATE OF tenant_id, issuer, audience, algorithm, key_material ON control.jwt_issuers
    FOR EACH ROW EXECUTE FUNCTION control.notify_tenant_change('tenant_id');
