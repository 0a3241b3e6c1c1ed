-- Merchandising rules: one row per rule, its validated form as JSON
-- (action, target, weight, position, segments, window); every replica
-- reloads them all when the fingerprint (count, latest update) changes.
CREATE TABLE rules (
    id            TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- Every served /recommend list with each item's slot and propensity
-- (JSON [{"c": course id, "k": "ranked"|"explored"|"fixed", "p": 0..1}],
-- position = array index) and the exploration pool's size: what the
-- off-policy estimate reads. Clicks and purchases are the events whose
-- rec_id names the list. Erased with the learner.
CREATE TABLE served_lists (
    rec_id      TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    ts_ms       BIGINT NOT NULL,
    exploration REAL NOT NULL,
    pool_size   INTEGER NOT NULL,
    strategy    TEXT NOT NULL,
    items       TEXT NOT NULL
);
CREATE INDEX served_lists_ts ON served_lists (ts_ms);
CREATE INDEX served_lists_user ON served_lists (user_id);
