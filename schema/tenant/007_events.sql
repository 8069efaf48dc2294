-- The tenant's outbox of directory events (app/events), appended in the
-- transaction of the write each tells, so that none is lost or invented.
-- sequence numbers the tenant's events 1, 2, 3 … without gaps in commit
-- order: a write takes the next numbers from the one-row event_sequence,
-- whose row lock it holds until it commits or rolls back, so the tenant's
-- writers number their events in turn and a rolled-back write gives its
-- numbers back. A relay copies the rows into the global feed in control.
CREATE TABLE events (
    sequence bigint PRIMARY KEY,
    id       uuid NOT NULL UNIQUE,
    type     text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    data     jsonb NOT NULL
);

CREATE TABLE event_sequence (
    last bigint NOT NULL
);
INSERT INTO event_sequence (last) VALUES (0);
