package store

import "time"

// Grant is a record of the authorization server (an authorization code, an
// access or refresh token, a PKCE request), opaque to the store: Key is the
// credential's signature, never the credential, and Data is sealed by the
// caller.
type Grant struct {
	Kind      string
	Key       string
	RequestID string // the authorization it belongs to: revoked together
	ClientID  string
	Subject   string // who it was issued for: revoked together
	Active    bool
	Expires   time.Time
	Data      []byte
}

// ClientRecord is a registered client application, encoded by its owner
// (internal/oauth).
type ClientRecord struct {
	ID      string
	Data    []byte
	Created time.Time
}

// UserRecord is a person's account, encoded and sealed by its owner
// (internal/auth). Version increases with every update.
type UserRecord struct {
	ID       string
	Username string
	Version  int64
	Data     []byte
}
