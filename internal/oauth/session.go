package oauth

import (
	"context"
	"encoding/hex"
	"encoding/json"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// Session is what a grant remembers for the tokens it issues: the access
// token's JWT claims and header (with the SMART launch context), the
// OpenID Connect ID token's claims and header, and each token's expiry.
// It is stored as JSON, sealed, with the grant.
type Session struct {
	oauth2.JWTSession
	IDClaims  *jwt.IDTokenClaims `json:"id_claims,omitempty"`
	IDHeaders *jwt.Headers       `json:"id_headers,omitempty"`
}

var (
	_ oauth2.JWTSessionContainer = (*Session)(nil)
	_ openid.Session             = (*Session)(nil)
)

// IDTokenClaims implements openid.Session.
func (s *Session) IDTokenClaims() *jwt.IDTokenClaims {
	if s.IDClaims == nil {
		s.IDClaims = &jwt.IDTokenClaims{Extra: map[string]interface{}{}}
	}
	return s.IDClaims
}

// IDTokenHeaders implements openid.Session.
func (s *Session) IDTokenHeaders() *jwt.Headers {
	if s.IDHeaders == nil {
		s.IDHeaders = &jwt.Headers{Extra: map[string]interface{}{}}
	}
	return s.IDHeaders
}

// Clone implements fosite.Session: a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	out := new(Session)
	if err := json.Unmarshal(data, out); err != nil {
		return nil
	}
	return out
}

// OpenID Connect sessions are keyed by the authorization code, which fosite
// passes in full: the store keeps its SHA-256 only.
func codeKey(code string) string {
	d := crypt.Digest(code)
	return hex.EncodeToString(d[:])
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *storage) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.put(ctx, grantOIDC, codeKey(code), r, true)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *storage) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	return s.get(ctx, grantOIDC, codeKey(code), r.GetSession(), openid.ErrNoSessionFound)
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *storage) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.st.DeleteGrant(ctx, grantOIDC, codeKey(code))
}
