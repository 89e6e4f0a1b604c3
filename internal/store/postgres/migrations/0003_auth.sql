-- The authorization server's state (internal/oauth) and people's accounts
-- (internal/auth), as in the SQLite driver (its migrations 0009_oauth.sql,
-- 0010_users.sql and 0011_grant_subject.sql). Nothing here is a usable
-- credential: grants are keyed by the signature of a token or code, their
-- data and the accounts' records are sealed with the auth key, and client
-- secrets are stored as hashes. Times are Unix seconds (BIGINT); flags are
-- 0/1 integers.

-- Registered client applications: JSON (name, kind, secret hash, redirect
-- URIs, allowed scopes, public keys).
CREATE TABLE oauth_client (
  id      TEXT   PRIMARY KEY,
  data    BYTEA  NOT NULL,
  created BIGINT NOT NULL
);

-- Authorization codes, access and refresh tokens, PKCE requests. kind says
-- which; request_id groups what one authorization issued, subject whom it
-- was issued for (each revoked together).
CREATE TABLE oauth_grant (
  kind       TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  request_id TEXT    NOT NULL,
  client_id  TEXT    NOT NULL,
  subject    TEXT    NOT NULL DEFAULT '',
  active     INTEGER NOT NULL,
  expires    BIGINT  NOT NULL,
  data       BYTEA   NOT NULL,
  PRIMARY KEY (kind, key)
);
CREATE INDEX oauth_grant_request ON oauth_grant (request_id);
CREATE INDEX oauth_grant_client ON oauth_grant (client_id);
CREATE INDEX oauth_grant_expires ON oauth_grant (expires);
CREATE INDEX oauth_grant_subject ON oauth_grant (subject);

-- Client-assertion ids (jti) seen, until their assertion expires: a
-- replayed assertion is refused.
CREATE TABLE oauth_jti (
  jti     TEXT   PRIMARY KEY,
  expires BIGINT NOT NULL
);

-- Accounts of people. The record (roles, password hash, MFA secrets,
-- recovery-code hashes) is sealed with the auth key; the username is kept
-- in the clear to find the account at sign-in. version makes updates
-- compare-and-swap.
CREATE TABLE auth_user (
  id       TEXT   PRIMARY KEY,
  username TEXT   NOT NULL UNIQUE,
  version  BIGINT NOT NULL,
  data     BYTEA  NOT NULL
);
