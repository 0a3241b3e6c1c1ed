-- Ids in the event log compare byte by byte (collation "C"), as Rust's
-- strings do. Under a libc locale every comparison went through strcoll
-- and index builds could not use abbreviated keys, which made the
-- learner and course indexes the slowest part of a bulk load; ids have no
-- linguistic order to keep. Only comparisons between two explicitly
-- collated columns could conflict, and every other id column keeps the
-- database default, which yields to "C". No table rewrite: the indexes on
-- these columns are rebuilt.
ALTER TABLE events
    ALTER COLUMN user_id TYPE TEXT COLLATE "C",
    ALTER COLUMN course_id TYPE TEXT COLLATE "C",
    ALTER COLUMN type TYPE TEXT COLLATE "C";
ALTER TABLE event_ids ALTER COLUMN event_id TYPE TEXT COLLATE "C";
