-- The interactions rollup: per (learner, course, event type, UTC day) sums
-- of the event log, kept by compaction up to the event sequence number in
-- `rollup_state.seq`. Training reads these rows plus the events after the
-- mark, so its cost follows the interactions, not the log's age. The first
-- compaction after this migration fills it from the whole log.
CREATE TABLE event_days (
    user_id     TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    day         INTEGER NOT NULL,          -- ts_ms / 86400000
    n           INTEGER NOT NULL,
    value_sum   REAL NOT NULL,    -- null values count as 0
    value_max   REAL NOT NULL,
    first_ts_ms INTEGER NOT NULL,
    last_ts_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, course_id, type, day)
);

CREATE TABLE rollup_state (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL                    -- events with seq <= this are in event_days
);
INSERT INTO rollup_state (id, seq) VALUES (1, 0);
