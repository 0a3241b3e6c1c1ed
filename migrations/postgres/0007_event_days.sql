-- The interactions rollup: per (learner, course, event type, UTC day) sums
-- of the event log, kept by compaction up to the event sequence number in
-- `rollup_state.seq`. Training reads these rows plus the events after the
-- mark, so its cost follows the interactions, not the log's age. The first
-- compaction after this migration fills it from the whole log.
CREATE TABLE event_days (
    user_id     TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    day         BIGINT NOT NULL,           -- ts_ms / 86400000
    n           BIGINT NOT NULL,
    value_sum   DOUBLE PRECISION NOT NULL, -- null values count as 0
    value_max   DOUBLE PRECISION NOT NULL,
    first_ts_ms BIGINT NOT NULL,
    last_ts_ms  BIGINT NOT NULL,
    PRIMARY KEY (user_id, course_id, type, day)
);

CREATE TABLE rollup_state (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL                    -- events with seq <= this are in event_days
);
INSERT INTO rollup_state (id, seq) VALUES (1, 0);
