-- The authorization server's state (internal/oauth). Nothing here is a
-- usable credential: grants are keyed by the signature of a token or code
-- (an HMAC or a JWT signature), their data is sealed with the auth key, and
-- client secrets are stored as hashes.

-- Registered client applications: JSON (name, kind, secret hash, redirect
-- URIs, allowed scopes, public keys).
CREATE TABLE oauth_client (
  id      TEXT    PRIMARY KEY,
  data    BLOB    NOT NULL,
  created INTEGER NOT NULL -- Unix seconds
);

-- Authorization codes, access and refresh tokens, PKCE requests. kind says
-- which; request_id groups what one authorization issued (revoked together).
CREATE TABLE oauth_grant (
  kind       TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  request_id TEXT    NOT NULL,
  client_id  TEXT    NOT NULL,
  active     INTEGER NOT NULL,
  expires    INTEGER NOT NULL, -- Unix seconds
  data       BLOB    NOT NULL,
  PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX oauth_grant_request ON oauth_grant (request_id);
CREATE INDEX oauth_grant_client ON oauth_grant (client_id);
CREATE INDEX oauth_grant_expires ON oauth_grant (expires);

-- Client-assertion ids (jti) seen, until their assertion expires: a replayed
-- assertion is refused.
CREATE TABLE oauth_jti (
  jti     TEXT    PRIMARY KEY,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
