-- Signed checkpoints of the audit log (C2SP tlog-checkpoint notes), by log
-- size. Copies are also written outside the database (a checkpoint sink), so
-- that a database rolled back to an earlier copy is detected.
CREATE TABLE audit_checkpoint (
  size INTEGER PRIMARY KEY,
  note BLOB    NOT NULL
);
