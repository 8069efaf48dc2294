-- Running server instances, each refreshing its heartbeat every few
-- seconds. A tenant's request budget is shared among the live instances:
-- each enforces requests_per_minute divided by their number.
CREATE TABLE control.instances (
    id           uuid PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
