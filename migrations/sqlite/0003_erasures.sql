-- Erased users, by a 64-bit hash of their id (never the id itself), so a
-- restart or another replica stops using a factor that the persisted model
-- still holds until the next training.
CREATE TABLE erasures (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_hash INTEGER NOT NULL,
    erased_ms INTEGER NOT NULL
);
CREATE INDEX erasures_erased ON erasures (erased_ms);
