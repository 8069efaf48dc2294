-- Per-tenant numbers the tenant list sorts by, stored so that sorting
-- 10,000 tenants is one indexed query over the control plane rather than a
-- visit to every tenant schema. users and groups are copied from the
-- tenant's counters when the console counts it and by insight.Rollups for
-- tenants written to since; requests_24h and last_activity are summed from
-- the usage roll-ups by insight.Rollups. No foreign key: a row of a deleted
-- tenant is simply never joined.
CREATE TABLE control.tenant_rollups (
    tenant_id     text PRIMARY KEY,
    users         bigint,
    groups        bigint,
    counted_at    timestamptz,
    requests_24h  bigint NOT NULL DEFAULT 0,
    last_activity timestamptz
);
