-- For the console: a small history of training runs (published models with
-- their holdout metrics, and failures with their reason), and an index so
-- "events ingested by type over the last hours" reads a time range from the
-- index alone (it covers the type).
CREATE TABLE training_runs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    version          INTEGER,
    status           TEXT NOT NULL,
    reason           TEXT,
    finished_ms      INTEGER NOT NULL,
    training_seconds REAL NOT NULL,
    n_users          INTEGER,
    n_courses        INTEGER,
    n_events         INTEGER,
    metrics          TEXT,
    baseline_metrics TEXT
);
CREATE INDEX events_received ON events (received_ms, type);
