-- The audit trail's transparency log (internal/audit/tlog): records as they
-- are stored (sealed with the audit key by the caller), in log order, and the
-- nodes of the Merkle tree over their hashes, each written once, when its
-- subtree is complete. Rows are only ever inserted.
CREATE TABLE audit_record (
  idx    INTEGER PRIMARY KEY,
  record BLOB    NOT NULL
);

CREATE TABLE audit_node (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB    NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
