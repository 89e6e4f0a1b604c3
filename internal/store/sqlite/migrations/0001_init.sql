-- Resources: one row per logical resource, pointing at its current version.
CREATE TABLE resource (
  rid     INTEGER PRIMARY KEY,
  type    TEXT    NOT NULL,
  id      TEXT    NOT NULL,
  version INTEGER NOT NULL,
  updated INTEGER NOT NULL,          -- microseconds since the Unix epoch, UTC
  deleted INTEGER NOT NULL DEFAULT 0,
  owner   TEXT    NOT NULL DEFAULT '', -- whose key sealed the current version ('' = tenant)
  ix      BLOB,                        -- the sealed key list of this resource's index rows (rowkeys.go)
  UNIQUE (type, id)
);
CREATE INDEX resource_owner ON resource (owner) WHERE owner <> '';

-- Every version of every resource, immutable once written. vid orders
-- versions globally and bounds history paging.
CREATE TABLE version (
  vid     INTEGER PRIMARY KEY,
  rid     INTEGER NOT NULL,
  version INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  method  INTEGER NOT NULL,
  owner   TEXT    NOT NULL DEFAULT '', -- whose key sealed body
  body    BLOB,
  UNIQUE (rid, version)
);
CREATE INDEX version_updated ON version (updated);

-- Search parameter keys, numbered for compact index rows.
CREATE TABLE param (
  pid INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE
);

-- Search index of current versions. Each table is its own index
-- (WITHOUT ROWID). Only ix_ref has an index on rid: resource.ix lists the
-- keys of a resource's rows, so an update deletes exactly those, and
-- conditions after the first are checked on those keys (match.go).
CREATE TABLE ix_string (
  pid INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL, rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, norm, exact, rid, grp)
) WITHOUT ROWID;

CREATE TABLE ix_token (
  pid INTEGER NOT NULL, code TEXT NOT NULL, system TEXT NOT NULL, rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, code, system, rid, grp)
) WITHOUT ROWID;

CREATE TABLE ix_ref (
  pid INTEGER NOT NULL, tid TEXT NOT NULL, ttype TEXT NOT NULL, url TEXT NOT NULL, rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, tid, ttype, url, rid, grp)
) WITHOUT ROWID;
-- References are followed from their source too (_include, _has): the
-- one index table with an index on rid.
CREATE INDEX ix_ref_rid ON ix_ref (rid, pid);

CREATE TABLE ix_date (
  pid INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, lo, hi, rid, grp)
) WITHOUT ROWID;

CREATE TABLE ix_number (
  pid INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL, rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, lo, hi, rid, grp)
) WITHOUT ROWID;

CREATE TABLE ix_quantity (
  pid INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL, code TEXT NOT NULL, system TEXT NOT NULL, unit TEXT NOT NULL,
  rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, lo, hi, code, system, unit, rid, grp)
) WITHOUT ROWID;

CREATE TABLE ix_uri (
  pid INTEGER NOT NULL, uri TEXT NOT NULL, rid INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (pid, uri, rid, grp)
) WITHOUT ROWID;
