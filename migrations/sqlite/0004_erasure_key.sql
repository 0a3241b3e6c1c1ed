-- Per-installation values generated on first start; `erasure_key` keys the
-- HMAC that erasures store instead of a plain hash of the user id, so the
-- table cannot be reversed by hashing candidate ids without the key.
CREATE TABLE installation (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Rows written before this migration hold the unkeyed XXH3 hash; the first
-- start re-keys those that match a persisted user and deletes the rest.
ALTER TABLE erasures ADD COLUMN keyed BOOLEAN NOT NULL DEFAULT FALSE;
