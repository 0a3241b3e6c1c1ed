-- Integer surrogate keys for learners and courses inside the store: the
-- rollup is keyed by them, so training reads integers per cell and each
-- text id once. Text ids stay in the event log and at the API's edges.
-- Keys are assigned by compaction, the only writer of these tables.
CREATE TABLE learner_keys (
    key SERIAL PRIMARY KEY,
    id  TEXT NOT NULL UNIQUE
);

CREATE TABLE course_keys (
    key SERIAL PRIMARY KEY,
    id  TEXT NOT NULL UNIQUE
);

-- The rollup is rebuilt with integer keys: the next compaction refills it
-- from the whole log (exact, since the raw log is still complete here).
DROP TABLE event_days;
CREATE TABLE event_days (
    learner_key INTEGER NOT NULL,
    course_key  INTEGER NOT NULL,
    type        SMALLINT NOT NULL,         -- index in EventType::ALL
    day         INTEGER NOT NULL,          -- ts_ms / 86400000
    n           BIGINT NOT NULL,
    value_sum   DOUBLE PRECISION NOT NULL, -- null values count as 0
    value_max   DOUBLE PRECISION NOT NULL,
    first_ts_ms BIGINT NOT NULL,
    last_ts_ms  BIGINT NOT NULL,
    PRIMARY KEY (learner_key, course_key, type, day)
);
UPDATE rollup_state SET seq = 0 WHERE id = 1;
