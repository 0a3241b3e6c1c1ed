-- Catalog, users, the append-only event log and persisted model snapshots.
-- Times are Unix milliseconds (BIGINT) so both stores share one representation.

CREATE TABLE courses (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    category    TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    level       TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    active      BOOLEAN NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    interests  TEXT NOT NULL DEFAULT '[]',    -- JSON array of strings
    level      TEXT,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    event_id    TEXT UNIQUE,
    user_id     TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       DOUBLE PRECISION,
    ts_ms       BIGINT NOT NULL,
    rec_id      TEXT,
    received_ms BIGINT NOT NULL
);
CREATE INDEX events_user_ts ON events (user_id, ts_ms);

CREATE TABLE model_snapshots (
    version    BIGINT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    data       BYTEA NOT NULL
);
