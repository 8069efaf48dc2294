-- Signed webhooks (app/webhook). An endpoint receives the events of one
-- tenant, or of every tenant when tenant_id is NULL. Its secret is kept as
-- it is: signing needs the secret itself (docs/security.md says why this
-- is acceptable). No foreign keys to control.tenants: a deleted tenant's
-- last events (tenant.deleted among them) are still delivered from the
-- feed (control.events); the dispatcher forgets its cursors afterwards.
CREATE TABLE control.webhook_endpoints (
    id            uuid PRIMARY KEY,
    url           text NOT NULL,
    tenant_id     text,
    secret        text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    paused_at     timestamptz,
    paused_reason text NOT NULL DEFAULT ''
);

-- One row per endpoint and tenant: how far (by sequence) the tenant's events in the feed have been
-- delivered to the endpoint (or given up), and when to look again. A
-- delivery worker holds the row's lock (FOR UPDATE SKIP LOCKED) while it
-- sends, so that one event goes to one endpoint from one worker at a time,
-- and the tenant's next event waits for it. due_at NULL: nothing known to
-- send until the tenant writes again.
CREATE TABLE control.webhook_cursors (
    endpoint_id   uuid NOT NULL REFERENCES control.webhook_endpoints (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL,
    delivered     bigint NOT NULL DEFAULT 0,
    due_at        timestamptz DEFAULT now(),
    attempts      int NOT NULL DEFAULT 0,
    failing_since timestamptz,
    PRIMARY KEY (endpoint_id, tenant_id)
);
CREATE INDEX webhook_cursors_due_idx ON control.webhook_cursors (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX webhook_cursors_tenant_idx ON control.webhook_cursors (tenant_id);

-- Each event sent to an endpoint, with its latest outcome.
CREATE TABLE control.webhook_deliveries (
    endpoint_id uuid NOT NULL REFERENCES control.webhook_endpoints (id) ON DELETE CASCADE,
    tenant_id   text NOT NULL,
    sequence    bigint NOT NULL,
    event_id    uuid NOT NULL,
    type        text NOT NULL,
    state       text NOT NULL CHECK (state IN ('retrying', 'delivered', 'failed')),
    attempts    int NOT NULL,
    status      int NOT NULL,
    duration_ms int NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, tenant_id, sequence)
);
CREATE INDEX webhook_deliveries_recent_idx ON control.webhook_deliveries (endpoint_id, last_at DESC);

-- Every attempt: the status (0 when no response came), how long it took,
-- what went wrong and the start of the response body.
CREATE TABLE control.webhook_attempts (
    n           bigserial PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES control.webhook_endpoints (id) ON DELETE CASCADE,
    tenant_id   text NOT NULL,
    sequence    bigint NOT NULL,
    event_id    uuid NOT NULL,
    at          timestamptz NOT NULL,
    status      int NOT NULL,
    duration_ms int NOT NULL,
    error       text NOT NULL,
    response    text NOT NULL
);
CREATE INDEX webhook_attempts_endpoint_idx ON control.webhook_attempts (endpoint_id, n DESC);
