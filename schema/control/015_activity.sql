-- The tenant activity feed: each tenant's recent SCIM traffic worth a look
-- (writes, refused and failed requests, failed authentications on its URLs),
-- redacted of personal data and without any secret, trimmed per tenant and
-- kind by every flush. Rows are inserted under one advisory lock, so ids
-- become visible in order and a reader's id cursor never skips a row.
CREATE TABLE control.activity (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES control.tenants (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    kind       text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    method     text NOT NULL,
    path       text NOT NULL,
    status     smallint NOT NULL,
    credential text NOT NULL DEFAULT '',
    reason     text NOT NULL DEFAULT '',
    scim_type  text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    idp        text NOT NULL DEFAULT ''
);
CREATE INDEX activity_tenant_id_idx ON control.activity (tenant_id, id);
