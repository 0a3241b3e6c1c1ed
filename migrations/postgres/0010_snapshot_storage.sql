-- Snapshots are postcard-encoded factors and ids, which pglz cannot
-- shrink; it still reads the whole value trying (about 1 s of a training's
-- 82 MB write at 5M events). Store them out of line without compression.
ALTER TABLE model_snapshots ALTER COLUMN data SET STORAGE EXTERNAL;
