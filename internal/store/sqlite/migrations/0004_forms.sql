-- The unsealed list of a resource's index rows as the index tables show them:
-- blind-index forms without their values, and dates, numbers, quantities and
-- references as they are (rowkeys.go). Conditions and sort keys that need no
-- more than that are evaluated on it without opening the sealed list (ix).
-- NULL where the sealed list has to be used: rows written before this column
-- existed, and builds that store ix in the clear.
ALTER TABLE resource ADD COLUMN ixf BLOB;
