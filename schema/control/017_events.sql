-- The global feed of directory events (app/events). Each tenant's events
-- are written to its own schema's outbox in the write's transaction; a
-- relay, one at a time across instances (an advisory lock), copies them
-- here. position is assigned by the relay's own transactions, which take
-- turns, so position order is their commit order and a reader that reads
-- position > cursor never skips a row that commits later.
CREATE TABLE control.events (
    position  bigserial PRIMARY KEY,
    id        uuid NOT NULL UNIQUE,
    tenant_id text NOT NULL,
    sequence  bigint NOT NULL,
    type      text NOT NULL,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    data      jsonb NOT NULL
);
CREATE INDEX events_at_idx ON control.events (at);
CREATE INDEX events_tenant_idx ON control.events (tenant_id, position);

-- The last sequence of each tenant copied into the feed. Deleting a tenant
-- deletes its row: a tenant created again with the same id numbers its
-- events from 1 again, after the old one's tenant.deleted.
CREATE TABLE control.event_relay (
    tenant_id text PRIMARY KEY,
    relayed   bigint NOT NULL
);

-- Events of staff operations (tenant suspended, resumed, extension added),
-- written in the operation's control transaction and waiting for the relay
-- to give them their place in the tenant's sequence.
CREATE TABLE control.event_outbox (
    n         bigserial PRIMARY KEY,
    id        uuid NOT NULL UNIQUE,
    tenant_id text NOT NULL,
    type      text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    data      jsonb NOT NULL
);
CREATE INDEX event_outbox_tenant_idx ON control.event_outbox (tenant_id, n);

-- Credentials of the events API: only the SHA-256 of a key is kept, with
-- a prefix to tell keys apart. tenants NULL: every tenant.
CREATE TABLE control.event_keys (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    key_hash   bytea NOT NULL UNIQUE,
    prefix     text NOT NULL,
    tenants    text[],
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
