-- Catalog, users, the append-only event log and persisted model snapshots.
-- Times are Unix milliseconds so both stores share one representation.

CREATE TABLE courses (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    category    TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',
    level       TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    active      BOOLEAN NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    interests  TEXT NOT NULL DEFAULT '[]',
    level      TEXT,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT UNIQUE,
    user_id     TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       REAL,
    ts_ms       INTEGER NOT NULL,
    rec_id      TEXT,
    received_ms INTEGER NOT NULL
);
CREATE INDEX events_user_ts ON events (user_id, ts_ms);

CREATE TABLE model_snapshots (
    version    INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    data       BLOB NOT NULL
);
