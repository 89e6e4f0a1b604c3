-- Wrapped keysets (data keys per patient compartment, index, audit, backup
-- and cursor keys). Only the key-encryption key, held by the KMS, opens them.
CREATE TABLE keyset (
  name    TEXT    PRIMARY KEY,
  wrapped BLOB    NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
