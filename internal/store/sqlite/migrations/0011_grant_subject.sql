-- The subject (a user id, or a backend service's client id) of each grant,
-- so that everything issued to an account is revoked when it is disabled or
-- its password is reset.
ALTER TABLE oauth_grant ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth_grant_subject ON oauth_grant (subject);
