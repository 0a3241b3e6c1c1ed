-- An event_id replayed with another body (user, course, type, value) is a
-- conflict, refused with 409, not a duplicate dropped in silence: each
-- claimed id keeps a fingerprint of its event (xxh3, see `Event::body_hash`).
-- Ids claimed before this migration have none and compare by time only.
ALTER TABLE event_ids ADD COLUMN body_hash BIGINT;
