-- The patients each audit record names, as blind-index tags (the tags in the
-- record's envelope, store.UnpackAuditRecord): a patient's records are found
-- without opening any. Rows are only ever inserted, with their record.
CREATE TABLE audit_patient (
  tag BLOB    NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (tag, idx)
) WITHOUT ROWID;
