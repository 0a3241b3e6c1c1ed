-- A large `courserec import` drops the event log's secondary indexes,
-- loads, and rebuilds them by sort. The definitions it dropped are kept
-- here, in the transaction that dropped them, so an import that dies
-- midway leaves a record that the next import, `courserec migrate` or
-- service start rebuilds from.
CREATE TABLE deferred_indexes (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    dropped_ms BIGINT NOT NULL
);
