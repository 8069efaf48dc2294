-- The console: staff API keys for the admin JSON API, and failed sign-ins,
-- kept so that repeated guessing is throttled across every instance.

-- Only the SHA-256 of a key is stored; prefix tells keys apart in lists.
-- A key acts with the role of the staff account it belongs to.
CREATE TABLE control.staff_api_keys (
    id           uuid PRIMARY KEY,
    staff_id     uuid NOT NULL REFERENCES control.staff (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX staff_api_keys_staff_id_idx ON control.staff_api_keys (staff_id);

-- One row per failed sign-in; rows older than a day are pruned as new ones
-- arrive. email is lower-cased; client is the remote address.
CREATE TABLE control.sign_in_failures (
    id     bigserial PRIMARY KEY,
    email  text NOT NULL,
    client text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_email_at_idx ON control.sign_in_failures (email, at);
CREATE INDEX sign_in_failures_client_at_idx ON control.sign_in_failures (client, at);
CREATE INDEX sign_in_failures_at_idx ON control.sign_in_failures (at);
