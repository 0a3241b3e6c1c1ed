-- For the console: a small history of training runs (published models with
-- their holdout metrics, and failures with their reason), and an index so
-- "events ingested by type over the last hours" reads a time range from the
-- index alone (it covers the type).
CREATE TABLE training_runs (
    seq              BIGSERIAL PRIMARY KEY,
    version          BIGINT,
    status           TEXT NOT NULL,
    reason           TEXT,
    finished_ms      BIGINT NOT NULL,
    training_seconds DOUBLE PRECISION NOT NULL,
    n_users          BIGINT,
    n_courses        BIGINT,
    n_events         BIGINT,
    metrics          TEXT,
    baseline_metrics TEXT
);
CREATE INDEX events_received ON events (received_ms, type);
