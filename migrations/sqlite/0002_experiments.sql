-- A/B experiments on recommendation strategies and the lists served under
-- them. Clicks and purchases are the events whose rec_id names an impression.

CREATE TABLE experiments (
    id         TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,                 -- JSON: variants, control
    status     TEXT NOT NULL,                 -- running | stopped
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
-- At most one experiment runs at a time.
CREATE UNIQUE INDEX experiments_one_running ON experiments (status) WHERE status = 'running';

-- rec_id is unique by construction (a UUIDv7 per served list), so the table
-- has no key of its own: one index fewer to maintain per impression.
CREATE TABLE impressions (
    rec_id        TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    variant       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    n_items       INTEGER NOT NULL,
    ts_ms         INTEGER NOT NULL
);
CREATE INDEX impressions_experiment ON impressions (experiment_id, variant);
CREATE INDEX impressions_user ON impressions (user_id);

CREATE INDEX events_rec_id ON events (rec_id) WHERE rec_id IS NOT NULL;
