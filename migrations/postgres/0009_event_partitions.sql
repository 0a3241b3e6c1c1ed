-- The event log becomes a table partitioned by event time, one partition per
-- UTC month (`events_YYYY_MM`), so retention drops whole months instead of
-- deleting rows. Events outside the months created so far land in
-- `events_default`; `courserec_add_event_month` moves them out when their
-- month gets a partition. Idempotency moves to `event_ids`: a unique index
-- on a partitioned table must include the partition key, and an event id
-- must be unique whatever its time.

CREATE TABLE event_ids (
    event_id TEXT PRIMARY KEY,
    ts_ms    BIGINT NOT NULL   -- the event's time; pruned with its month
);
CREATE INDEX event_ids_ts ON event_ids (ts_ms);

ALTER TABLE events RENAME TO events_flat;

CREATE TABLE events (
    seq         BIGINT NOT NULL DEFAULT nextval('events_seq_seq'),
    event_id    TEXT,
    user_id     TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       DOUBLE PRECISION,
    ts_ms       BIGINT NOT NULL,
    rec_id      TEXT,
    received_ms BIGINT NOT NULL
) PARTITION BY RANGE (ts_ms);
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Creates the partition of the UTC month starting at `month_start` (a first
-- day of a month) unless it exists, moving that month's rows out of the
-- default partition; true when it created one. Callers serialise on an
-- advisory lock, so replicas do not race on the DDL.
CREATE FUNCTION courserec_add_event_month(month_start DATE) RETURNS BOOLEAN AS $$
DECLARE
    part TEXT := format('events_%s', to_char(month_start, 'YYYY_MM'));
    lo BIGINT := (extract(epoch FROM month_start::timestamp) * 1000)::BIGINT;
    hi BIGINT := (extract(epoch FROM (month_start + interval '1 month')::timestamp) * 1000)::BIGINT;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    -- Inserts routed to the default partition wait, so none lands in the
    -- month between the move and the attach.
    LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM events_default WHERE ts_ms >= %s AND ts_ms < %s RETURNING *) '
        'INSERT INTO %I SELECT * FROM moved', lo, hi, part);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', part, lo, hi);
    RETURN TRUE;
END
$$ LANGUAGE plpgsql;

-- Every month the existing log has events in (none before 2000: such
-- times are junk and go to the default partition), and the last twelve
-- months up to two ahead. The default partition stays small, which
-- matters: creating a month's partition later scans it.
SELECT courserec_add_event_month(m::date)
FROM (
    SELECT DISTINCT date_trunc('month', to_timestamp(ts_ms / 1000.0) AT TIME ZONE 'UTC') AS m
    FROM events_flat WHERE ts_ms >= 946684800000
    UNION
    SELECT generate_series(
        date_trunc('month', now() AT TIME ZONE 'UTC') - interval '12 months',
        date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months',
        interval '1 month')
) months
ORDER BY m;

INSERT INTO events SELECT seq, event_id, user_id, course_id, type, value, ts_ms, rec_id, received_ms FROM events_flat;
INSERT INTO event_ids SELECT event_id, ts_ms FROM events_flat WHERE event_id IS NOT NULL;
ALTER SEQUENCE events_seq_seq OWNED BY events.seq;
DROP TABLE events_flat;

CREATE INDEX events_seq ON events (seq);
CREATE INDEX events_user_ts ON events (user_id, ts_ms);
CREATE INDEX events_rec_id ON events (rec_id) WHERE rec_id IS NOT NULL;
CREATE INDEX events_course_type_ts ON events (course_id, type, ts_ms);
CREATE INDEX events_received ON events (received_ms, type);
