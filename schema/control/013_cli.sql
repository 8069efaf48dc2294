-- The public base URL of the server, recorded by `bulkhead serve` at start,
-- so that the CLI prints the SCIM base URLs the server answers on without
-- the operator repeating the server's environment. One row; the server that
-- started last wins, as instances behind one address share it.
CREATE TABLE control.server (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    base_url    text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
