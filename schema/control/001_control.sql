-- The control plane: tenants, their permissions and tokens, staff, audit.
-- Control-plane SQL always names its schema.

CREATE TABLE control.tenants (
    id             text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_]{0,39}$'),
    name           text NOT NULL,
    plan           text NOT NULL CHECK (plan IN ('enterprise', 'startup', 'trial')),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    isolation      text NOT NULL DEFAULT 'standard' CHECK (isolation IN ('standard', 'strict')),
    trial_ends_at  timestamptz,
    schema_version integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE control.tenant_permissions (
    tenant_id           text PRIMARY KEY REFERENCES control.tenants (id) ON DELETE CASCADE,
    can_create          boolean NOT NULL DEFAULT true,
    can_read            boolean NOT NULL DEFAULT true,
    can_update          boolean NOT NULL DEFAULT true,
    can_delete          boolean NOT NULL DEFAULT true,
    can_list            boolean NOT NULL DEFAULT true,
    max_users           integer NOT NULL CHECK (max_users >= 0),
    max_groups          integer NOT NULL CHECK (max_groups >= 0),
    requests_per_minute integer NOT NULL CHECK (requests_per_minute > 0),
    burst               integer NOT NULL CHECK (burst > 0),
    bulk_enabled        boolean NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- SCIM bearer tokens. Only the SHA-256 of a token is stored; prefix is its
-- first characters, shown in lists so that people can tell tokens apart.
CREATE TABLE control.tokens (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES control.tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX tokens_tenant_id_idx ON control.tokens (tenant_id);

CREATE TABLE control.staff (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'support')),
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz
);
CREATE UNIQUE INDEX staff_email_key ON control.staff (lower(email));

-- The audit trail outlives the tenants it names: no foreign key.
CREATE TABLE control.audit_events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    tenant_id text,
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_tenant_id_at_idx ON control.audit_events (tenant_id, at DESC);
CREATE INDEX audit_events_at_idx ON control.audit_events (at DESC);

-- Console sessions, in the table and place scs's postgresstore expects.
CREATE TABLE IF NOT EXISTS public.sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON public.sessions (expiry);
