-- Accounts of people (internal/auth). The record (roles, password hash,
-- MFA secrets, recovery-code hashes) is sealed with the auth key; the
-- username is kept in the clear to find the account at sign-in. version
-- makes updates compare-and-swap.
CREATE TABLE auth_user (
  id       TEXT    PRIMARY KEY,
  username TEXT    NOT NULL UNIQUE,
  version  INTEGER NOT NULL,
  data     BLOB    NOT NULL
);
