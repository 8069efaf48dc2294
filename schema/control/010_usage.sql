-- Usage metering, written by app/usage in batches (never once per request).
-- None of these tables references control.tenants: usage outlives a deleted
-- tenant until retention removes it, like the audit trail.

-- SCIM traffic per tenant and clock hour, by resource type, operation,
-- status and refusal reason. latency holds request counts per fixed latency
-- bucket (app/usage.LatencyBuckets), so that percentiles can be computed
-- from roll-ups; duration_us and db_us are sums, for means and for the
-- noisy-neighbour check.
CREATE TABLE control.usage_hourly (
    tenant_id   text NOT NULL,
    hour        timestamptz NOT NULL,
    resource    text NOT NULL,
    operation   text NOT NULL,
    status      smallint NOT NULL,
    refusal     text NOT NULL DEFAULT '',
    requests    bigint NOT NULL,
    bytes_in    bigint NOT NULL,
    bytes_out   bigint NOT NULL,
    duration_us bigint NOT NULL,
    db_us       bigint NOT NULL,
    latency     bigint[] NOT NULL,
    PRIMARY KEY (tenant_id, hour, resource, operation, status, refusal)
);
CREATE INDEX usage_hourly_hour_idx ON control.usage_hourly (hour);

-- Daily totals of hours older than the retention (90 days by default).
CREATE TABLE control.usage_daily (
    tenant_id   text NOT NULL,
    day         date NOT NULL,
    resource    text NOT NULL,
    operation   text NOT NULL,
    status      smallint NOT NULL,
    refusal     text NOT NULL DEFAULT '',
    requests    bigint NOT NULL,
    bytes_in    bigint NOT NULL,
    bytes_out   bigint NOT NULL,
    duration_us bigint NOT NULL,
    db_us       bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, resource, operation, status, refusal)
);

-- The last successful SCIM write of each tenant and the identity provider
-- that made it, as told by its User-Agent.
CREATE TABLE control.usage_last_write (
    tenant_id text PRIMARY KEY,
    at        timestamptz NOT NULL,
    idp       text NOT NULL
);

-- The request inspector: each tenant's latest failed SCIM requests, with
-- bodies redacted of personal data, trimmed to 200 per tenant by every flush.
CREATE TABLE control.failed_requests (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    at         timestamptz NOT NULL,
    request_id text NOT NULL,
    method     text NOT NULL,
    path       text NOT NULL,
    status     smallint NOT NULL,
    scim_type  text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    idp        text NOT NULL,
    body       text NOT NULL DEFAULT ''
);
CREATE INDEX failed_requests_tenant_id_idx ON control.failed_requests (tenant_id, id DESC);
