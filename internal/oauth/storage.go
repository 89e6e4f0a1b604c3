package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"

	"github.com/hestiahealth/hestia/internal/store"
)

// Store keeps the authorization server's records; internal/store/sqlite
// implements it. It never sees a usable credential: grants are keyed by
// signatures and their data is sealed here.
type Store interface {
	Client(ctx context.Context, id string) (store.ClientRecord, error)
	PutGrant(ctx context.Context, g store.Grant) error
	Grant(ctx context.Context, kind, key string) (store.Grant, error)
	DeactivateGrant(ctx context.Context, kind, key string) error
	DeleteGrant(ctx context.Context, kind, key string) error
	RevokeGrants(ctx context.Context, kind, requestID string) error
	RevokeSubject(ctx context.Context, subject string) error
	PruneGrants(ctx context.Context, t time.Time) error
	JTIKnown(ctx context.Context, jti string, now time.Time) (bool, error)
	AddJTI(ctx context.Context, jti string, exp, now time.Time) error
}

// Sealer seals the grants' data (the authorization's session, which may
// name a patient); internal/crypt implements it.
type Sealer interface {
	SealAuth(purpose string, secret []byte) ([]byte, error)
	OpenAuth(purpose string, sealed []byte) ([]byte, error)
}

// Kinds of grants.
const (
	grantCode    = "code"
	grantAccess  = "access"
	grantRefresh = "refresh"
	grantPKCE    = "pkce"
	grantOIDC    = "oidc"
)

// storage adapts Store to fosite's storage interfaces.
type storage struct {
	st   Store
	seal Sealer
	now  func() time.Time
	// revoked is told when tokens are revoked (the verifier's cache).
	revoked func()
	// audience is the server's base URL: every client may ask for tokens
	// for it (and for nothing else).
	audience func() string
}

func (s *storage) revokedNow() {
	if s.revoked != nil {
		s.revoked()
	}
}

var (
	_ fosite.ClientManager                 = (*storage)(nil)
	_ oauth2.CoreStorage                   = (*storage)(nil)
	_ oauth2.TokenRevocationStorage        = (*storage)(nil)
	_ pkce.PKCERequestStorage              = (*storage)(nil)
	_ oauth2.ClientCredentialsGrantStorage = (*storage)(nil)
)

// GetClient implements fosite.ClientManager.
func (s *storage) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := loadClient(ctx, s.st, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fosite.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	fc, err := c.fosite()
	if err != nil {
		return nil, err
	}
	if s.audience != nil {
		fc.(*fosite.DefaultOpenIDConnectClient).Audience = []string{s.audience()}
	}
	return fc, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager: an error if the
// assertion id was seen (a replay).
func (s *storage) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	known, err := s.st.JTIKnown(ctx, jti, s.now())
	if err != nil {
		return err
	}
	if known {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *storage) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	if err := s.st.AddJTI(ctx, jti, exp, s.now()); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fosite.ErrJTIKnown
		}
		return err
	}
	return nil
}

// storedRequest is what a grant's data holds: the authorization request
// without its credentials.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"at"`
	ClientID          string          `json:"client"`
	RequestedScope    []string        `json:"rs,omitempty"`
	GrantedScope      []string        `json:"gs,omitempty"`
	RequestedAudience []string        `json:"ra,omitempty"`
	GrantedAudience   []string        `json:"ga,omitempty"`
	Form              url.Values      `json:"form,omitempty"`
	Session           json.RawMessage `json:"session"`
}

// secretParams are the form parameters never stored with a grant.
var secretParams = []string{"client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "password", "token"}

func (s *storage) put(ctx context.Context, kind, key string, r fosite.Requester, active bool) error {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return fmt.Errorf("oauth: encode session: %w", err)
	}
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = v
	}
	for _, p := range secretParams {
		delete(form, p)
	}
	data, err := json.Marshal(storedRequest{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: form, Session: sess,
	})
	if err != nil {
		return fmt.Errorf("oauth: encode grant: %w", err)
	}
	sealed, err := s.seal.SealAuth("grant/"+kind, data)
	if err != nil {
		return err
	}
	exp := s.now().Add(24 * time.Hour)
	var subject string
	if se := r.GetSession(); se != nil {
		if t := se.GetExpiresAt(tokenTypeOf(kind)); !t.IsZero() {
			exp = t
		}
		subject = se.GetSubject()
	}
	return s.st.PutGrant(ctx, store.Grant{Kind: kind, Key: key, RequestID: r.GetID(), ClientID: r.GetClient().GetID(),
		Subject: subject, Active: active, Expires: exp, Data: sealed})
}

func tokenTypeOf(kind string) fosite.TokenType {
	switch kind {
	case grantCode, grantPKCE, grantOIDC:
		return fosite.AuthorizeCode
	case grantRefresh:
		return fosite.RefreshToken
	default:
		return fosite.AccessToken
	}
}

// get loads a grant into a request with session; inactive grants return
// the request with inactive as the error (fosite needs both to revoke
// what a reused code or refresh token issued).
func (s *storage) get(ctx context.Context, kind, key string, session fosite.Session, inactive error) (fosite.Requester, error) {
	g, err := s.st.Grant(ctx, kind, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fosite.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	data, err := s.seal.OpenAuth("grant/"+kind, g.Data)
	if err != nil {
		return nil, fmt.Errorf("oauth: open grant: %w", err)
	}
	var sr storedRequest
	if err := json.Unmarshal(data, &sr); err != nil {
		return nil, fmt.Errorf("oauth: decode grant: %w", err)
	}
	client, err := s.GetClient(ctx, sr.ClientID)
	if err != nil {
		// The client was removed: nothing it was issued is valid.
		return nil, fosite.ErrNotFound
	}
	if session != nil {
		if err := json.Unmarshal(sr.Session, session); err != nil {
			return nil, fmt.Errorf("oauth: decode session: %w", err)
		}
	}
	r := &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: client,
		RequestedScope: sr.RequestedScope, GrantedScope: sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
		Form: sr.Form, Session: session,
	}
	if r.Form == nil {
		r.Form = url.Values{}
	}
	if !g.Active {
		return r, inactive
	}
	return r, nil
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *storage) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.put(ctx, grantCode, code, r, true)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *storage) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, grantCode, code, session, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage:
// the code stays, inactive, so that its reuse is recognised.
func (s *storage) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	return s.st.DeactivateGrant(ctx, grantCode, code)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.put(ctx, grantAccess, sig, r, true)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, grantAccess, sig, session, fosite.ErrInactiveToken)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *storage) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	defer s.revokedNow()
	return s.st.DeleteGrant(ctx, grantAccess, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *storage) CreateRefreshTokenSession(ctx context.Context, sig string, _ string, r fosite.Requester) error {
	return s.put(ctx, grantRefresh, sig, r, true)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *storage) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, grantRefresh, sig, session, fosite.ErrInactiveToken)
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *storage) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.st.DeleteGrant(ctx, grantRefresh, sig)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the used
// refresh token stays, inactive (its reuse revokes the family), and the
// access tokens issued before are revoked.
func (s *storage) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	// A refresh token used twice at once: only the first use rotates it.
	if err := s.st.DeactivateGrant(ctx, grantRefresh, sig); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	defer s.revokedNow()
	return s.st.RevokeGrants(ctx, grantAccess, requestID)
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (s *storage) RevokeRefreshToken(ctx context.Context, requestID string) error {
	defer s.revokedNow()
	return s.st.RevokeGrants(ctx, grantRefresh, requestID)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s *storage) RevokeAccessToken(ctx context.Context, requestID string) error {
	defer s.revokedNow()
	return s.st.RevokeGrants(ctx, grantAccess, requestID)
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.put(ctx, grantPKCE, sig, r, true)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, grantPKCE, sig, session, fosite.ErrNotFound)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *storage) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.st.DeleteGrant(ctx, grantPKCE, sig)
}
