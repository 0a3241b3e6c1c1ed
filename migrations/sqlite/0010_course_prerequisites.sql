-- Learning paths: the course ids a course requires (a JSON array of
-- strings, like `tags`). Ids not in the catalog yet are kept.
ALTER TABLE courses ADD COLUMN prerequisites TEXT NOT NULL DEFAULT '[]';
