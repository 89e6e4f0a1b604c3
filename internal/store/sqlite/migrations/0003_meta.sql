-- Facts about how the stored data is encoded, so that a binary that encodes
-- differently knows to rebuild what it depends on (for example the length of
-- the string prefix that index forms cover).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Index rows written before this table existed cover 4-character prefixes.
INSERT INTO meta (key, value) SELECT 'string_prefix_len', '4' WHERE EXISTS (SELECT 1 FROM resource);
