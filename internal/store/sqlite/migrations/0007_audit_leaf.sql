-- Each record's leaf hash moves into its row, and the tree nodes of levels 1
-- to 3 are no longer stored: they are computed from the leaves when needed
-- (at most 8 per node). Four rows per record become about two.
ALTER TABLE audit_record ADD COLUMN leaf BLOB;
UPDATE audit_record SET leaf = (SELECT hash FROM audit_node WHERE audit_node.level = 0 AND audit_node.idx = audit_record.idx);
DELETE FROM audit_node WHERE level < 4;
