// Package oauth is Hestia's OAuth 2.0 authorization server (SMART on FHIR):
// it registers client applications, issues short-lived signed access
// tokens, and verifies the bearer tokens of FHIR requests.
//
// The protocol machinery is github.com/ory/fosite, the library under Ory
// Hydra (an OpenID Certified server). It was chosen over zitadel/oidc's op
// package because SMART needs what fosite has and op lacks: private_key_jwt
// client authentication on every grant with the token endpoint as audience
// and jti replay storage (SMART Backend Services), extra token-response
// parameters (the SMART launch context), revocation of a refresh-token
// family on reuse and of everything issued from a replayed authorization
// code, and enforced PKCE S256. Hestia writes only the storage (sealed, in
// the database), the SMART scope rules and the audit hooks.
//
// Invariants:
//   - Access tokens are JWTs signed ES256 under a key that is stored sealed
//     (crypt.SealAuth) and published in the JWKS with its kid; verification
//     accepts ES256 under a published kid only, checks issuer, audience and
//     lifetime, and that the token's grant is still active (revocation).
//   - The database never holds a usable credential: grants are keyed by
//     signatures, client secrets are stored hashed, grant data is sealed.
//   - Every token issued or refused, and every revocation, is audited
//     before the response; if the audit log fails, no token is issued.
//   - Errors follow RFC 6749 section 5.2 (error codes, no internals).
package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/crypt"
)

// Paths of the endpoints, under the server's base URL.
const (
	TokenPath      = "/oauth2/token"
	RevokePath     = "/oauth2/revoke"
	IntrospectPath = "/oauth2/introspect"
	JWKSPath       = "/oauth2/jwks"
	SMARTConfig    = "/.well-known/smart-configuration"
	OIDCConfig     = "/.well-known/openid-configuration"
)

// MaxAssertionLifetime bounds a client assertion's exp after now (SMART
// Backend Services: no more than five minutes in the future).
const MaxAssertionLifetime = 5 * time.Minute

// MetaStore keeps small named values (the sealed signing keys and token
// secret); internal/store/sqlite implements it.
type MetaStore interface {
	Meta(ctx context.Context, key string) (string, bool, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Keys seals the server's secrets; internal/crypt implements it.
type Keys interface {
	Sealer
}

// Event is an authentication event for the audit log.
type Event struct {
	Action  string // "token" (issue or refusal), "revoke", "introspect"
	Client  string // the client id (as claimed, when authentication failed)
	Subject string // who the token is for
	Scopes  []string
	// Failure is the RFC 6749 error code of a refusal ("" on success):
	// a fixed code, never request content.
	Failure string
}

// Auditor records authentication events durably; an error means the event
// is not recorded and the operation must fail.
type Auditor interface {
	AuthEvent(ctx context.Context, ev Event) error
}

// Config configures the authorization server.
type Config struct {
	// Issuer is the server's base URL (https://host:port): tokens are
	// issued by and for it, and the token endpoint is Issuer+TokenPath.
	// It may be set later, with SetIssuer, before the first request.
	Issuer string
	Store  Store
	Meta   MetaStore
	Keys   Keys
	Audit  Auditor
	// AccessTokenTTL is an access token's lifetime (default 10 minutes).
	AccessTokenTTL time.Duration
	// JWKSClient fetches backend services' keys by URL (default: a client
	// with a 5-second timeout).
	JWKSClient *http.Client
	// UserValid tells whether a user's grants may still be used: the
	// account exists, is enabled, was authorized (issued) after its last
	// password reset, disabling or role change, and still has roles.
	// Tokens of users (subject other than the client) are checked with it
	// at verification (then cached 10 s), refresh and code exchange. Nil:
	// no check.
	UserValid func(ctx context.Context, subject string, issued time.Time, roles []string) bool
	Now       func() time.Time
}

// Server is the authorization server.
type Server struct {
	cfg      Config
	fcfg     *fosite.Config
	provider fosite.OAuth2Provider
	store    *storage

	mu      sync.RWMutex
	issuer  string
	signing *jose.JSONWebKey            // the current signing key
	public  map[string]*jose.JSONWebKey // published keys by kid
	private map[string]*jose.JSONWebKey // their private halves

	cache verifiedCache

	reloadMu  sync.Mutex
	kidReload time.Time // the last reload for an unknown key id
}

// New opens the authorization server, creating its signing key and token
// secret on first use.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Meta == nil || cfg.Keys == nil || cfg.Audit == nil {
		return nil, errors.New("oauth: a store, a meta store, keys and an auditor are required")
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg}
	if err := s.loadKeys(ctx); err != nil {
		return nil, err
	}
	secret, err := s.tokenSecret(ctx)
	if err != nil {
		return nil, err
	}
	s.store = &storage{st: cfg.Store, seal: cfg.Keys, now: cfg.Now, revoked: s.cache.clear, audience: s.Issuer}
	s.fcfg = &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenTTL,
		RefreshTokenLifespan:           30 * 24 * time.Hour,
		AuthorizeCodeLifespan:          time.Minute,
		GlobalSecret:                   secret,
		ScopeStrategy:                  scopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		JWTScopeClaimKey:               jwt.JWTScopeFieldString,
		ClientSecretsHasher:            secretHasher{},
		SendDebugMessagesToClients:     false,
		TokenEntropy:                   32,
		IDTokenLifespan:                time.Hour,
		MinParameterEntropy:            fosite.MinParameterEntropy,
	}
	if cfg.JWKSClient == nil {
		cfg.JWKSClient = &http.Client{Timeout: 5 * time.Second}
		s.cfg.JWKSClient = cfg.JWKSClient
	}
	s.fcfg.JWKSFetcherStrategy = &jwksFetcher{inner: fosite.NewDefaultJWKSFetcherStrategy(fosite.JWKSFetcherWithHTTPClient(retryable(cfg.JWKSClient))),
		now: cfg.Now, forced: map[string]time.Time{}}
	keyGetter := func(ctx context.Context) (interface{}, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if kid, ok := ctx.Value(kidKey{}).(string); ok {
			// The key the token's header names (set with it).
			if k := s.private[kid]; k != nil {
				return k.Key, nil
			}
			return nil, errors.New("oauth: the signing key is gone")
		}
		return s.signing.Key, nil
	}
	hmacStrategy := compose.NewOAuth2HMACStrategy(s.fcfg)
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2JWTStrategy(keyGetter, hmacStrategy, s.fcfg),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, s.fcfg),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	s.provider = compose.Compose(s.fcfg, s.store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
	)
	f := s.provider.(*fosite.Fosite)
	s.fcfg.ClientAuthenticationStrategy = func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		if err := s.checkAssertionLifetime(form); err != nil {
			return nil, err
		}
		c, err := f.DefaultClientAuthenticationStrategy(ctx, r, form)
		var rfc *fosite.RFC6749Error
		if err != nil && !errors.As(err, &rfc) {
			// fosite returns some assertion failures (exp, nbf) as
			// plain errors, which would answer 500.
			err = fosite.ErrInvalidClient.WithHint("The client assertion is not valid now.").WithWrap(err)
		}
		return c, err
	}
	s.SetIssuer(cfg.Issuer)
	return s, nil
}

// SetIssuer sets the server's base URL; call it before serving requests.
func (s *Server) SetIssuer(base string) {
	base = strings.TrimSuffix(base, "/")
	s.mu.Lock()
	s.issuer = base
	s.mu.Unlock()
	s.fcfg.TokenURL = base + TokenPath
	s.fcfg.AccessTokenIssuer = base
	s.fcfg.IDTokenIssuer = base
}

// Issuer returns the server's base URL.
func (s *Server) Issuer() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.issuer
}

// checkAssertionLifetime refuses client assertions valid for longer than
// MaxAssertionLifetime (fosite checks the signature, exp, aud and jti).
func (s *Server) checkAssertionLifetime(form url.Values) error {
	if form.Get("client_assertion_type") == "" {
		return nil
	}
	tok, err := josejwt.ParseSigned(form.Get("client_assertion"))
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.")
	}
	var c josejwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion's claims do not parse.")
	}
	if c.Expiry == nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion has no exp.")
	}
	if c.Expiry.Time().After(s.cfg.Now().Add(MaxAssertionLifetime + 10*time.Second)) {
		return fosite.ErrInvalidClient.WithHint("The client assertion must expire within five minutes.")
	}
	return nil
}

// Handler serves the endpoints (see the path constants).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.token)
	mux.HandleFunc("POST "+RevokePath, s.revoke)
	mux.HandleFunc("POST "+IntrospectPath, s.introspect)
	mux.HandleFunc("GET "+JWKSPath, s.jwks)
	mux.HandleFunc("GET "+SMARTConfig, s.smartConfiguration)
	mux.HandleFunc("GET "+OIDCConfig, s.openidConfiguration)
	mux.HandleFunc("/", unknownEndpoint)
	return mux
}

// endpointMethods are the methods of each endpoint (the authorization
// endpoint is internal/web's, reached here only by other methods).
var endpointMethods = map[string]string{
	TokenPath: "POST", RevokePath: "POST", IntrospectPath: "POST", JWKSPath: "GET",
	SMARTConfig: "GET", OIDCConfig: "GET", AuthorizePath: "GET, POST",
}

// unknownEndpoint answers, in OAuth's JSON error form, a method an
// endpoint does not take (405 with Allow) or a path that is none (404).
func unknownEndpoint(w http.ResponseWriter, r *http.Request) {
	if allow, ok := endpointMethods[r.URL.Path]; ok {
		w.Header().Set("Allow", allow)
		writeJSONStatus(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request",
			"error_description": "This endpoint takes " + allow + "."})
		return
	}
	writeJSONStatus(w, http.StatusNotFound, map[string]string{"error": "invalid_request", "error_description": "No such endpoint."})
}

// authTime is when the user authorized the grant (stored at Approve).
func authTime(js *Session) time.Time {
	switch v := js.JWTClaims.Extra["auth_time"].(type) {
	case float64:
		return time.Unix(int64(v), 0)
	case int64:
		return time.Unix(v, 0)
	case json.Number:
		n, _ := v.Int64()
		return time.Unix(n, 0)
	}
	return time.Unix(0, 0) // unknown: older than any cut-off
}

// claimRoles reads a roles claim (a []string, or []any after JSON).
func claimRoles(v any) []string {
	switch r := v.(type) {
	case []string:
		return r
	case []any:
		out := make([]string, 0, len(r))
		for _, x := range r {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return []string{}
}

// kidKey carries, in a context, the key id a token is being signed with.
type kidKey struct{}

func (s *Server) currentKid() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.signing.KeyID
}

// RevokeSubject revokes every grant issued for a subject (an account
// disabled, a password reset): its refresh tokens stop at once, its access
// tokens at their next check here (the cache is cleared).
func (s *Server) RevokeSubject(ctx context.Context, subject string) error {
	defer s.cache.clear()
	return s.cfg.Store.RevokeSubject(ctx, subject)
}

// newSession is the session of a new token: JWTs for the issuer, signed
// by the current key.
func (s *Server) newSession() *Session {
	s.mu.RLock()
	kid := s.signing.KeyID
	s.mu.RUnlock()
	sess := &Session{JWTSession: oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{Extra: map[string]interface{}{}},
		JWTHeader: &jwt.Headers{Extra: map[string]interface{}{"kid": kid}},
		ExpiresAt: map[fosite.TokenType]time.Time{},
	}}
	sess.IDTokenHeaders().Extra["kid"] = kid
	return sess
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := s.newSession()
	switch g := r.PostFormValue("grant_type"); g {
	case "client_credentials", "refresh_token", "authorization_code":
	default:
		// fosite answers invalid_request for a grant no handler takes.
		s.refuse(w, r, fosite.NewAccessRequest(sess), fosite.ErrUnsupportedGrantType)
		return
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err == nil && len(ar.GetRequestedScopes()) == 0 {
		err = fosite.ErrInvalidScope.WithHint("Ask for the scopes you need (scope).")
	}
	if err != nil {
		s.refuse(w, r, ar, err)
		return
	}
	client := ar.GetClient().GetID()
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		// The client asked, and its registration allows (fosite checked):
		// no user decides.
		for _, sc := range ar.GetRequestedScopes() {
			ar.GrantScope(sc)
		}
		sess.Subject = client
		sess.JWTClaims.Subject = client
		ar.GrantAudience(s.Issuer())
	case ar.GetGrantTypes().ExactOne("refresh_token"):
		// RFC 6749 section 6: a refresh may narrow the scope, never widen
		// it (fosite keeps the original grant either way).
		if err := narrow(ar, r.PostForm.Get("scope")); err != nil {
			s.refuse(w, r, ar, err)
			return
		}
	}
	// The session (restored from the code or refresh token for those
	// grants) is the token's: its subject and launch context.
	js, _ := ar.GetSession().(*Session)
	if js == nil || js.JWTClaims == nil {
		s.refuse(w, r, ar, fosite.ErrServerError.WithHint("The grant has no session."))
		return
	}
	if js.Subject != client && s.cfg.UserValid != nil && !s.cfg.UserValid(ctx, js.Subject, authTime(js), claimRoles(js.JWTClaims.Extra["roles"])) {
		// The account was disabled or its password reset since the grant.
		s.refuse(w, r, ar, fosite.ErrInvalidGrant.WithHint("The account's grants were revoked."))
		return
	}
	// Signed by the current key, whatever key the stored session named.
	kid := s.currentKid()
	js.JWTHeader.Extra["kid"] = kid
	js.IDTokenHeaders().Extra["kid"] = kid
	ctx = context.WithValue(ctx, kidKey{}, kid)
	if js.JWTClaims.Extra == nil {
		js.JWTClaims.Extra = map[string]interface{}{}
	}
	js.JWTClaims.Extra["client_id"] = client
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.refuse(w, r, ar, err)
		return
	}
	if p, ok := js.JWTClaims.Extra["patient"].(string); ok && p != "" {
		resp.SetExtra("patient", p) // SMART launch context
	}
	if err := s.cfg.Audit.AuthEvent(ctx, Event{Action: "token", Client: client, Subject: js.Subject, Scopes: ar.GetGrantedScopes()}); err != nil {
		s.provider.WriteAccessError(ctx, w, ar, fosite.ErrTemporarilyUnavailable.WithHint("The audit log is unavailable."))
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// refuse audits a refused token request and answers with its error; if
// the audit log fails, the answer is temporarily_unavailable.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	ctx := r.Context()
	if errors.Is(err, fosite.ErrJTIKnown) {
		// fosite's own code; RFC 7523 section 3.2 says invalid_client.
		err = fosite.ErrInvalidClient.WithHint("The client assertion was used before (its jti is known).")
	}
	if aerr := s.cfg.Audit.AuthEvent(ctx, Event{Action: "token", Client: claimedClient(r), Failure: errorCode(err)}); aerr != nil {
		err = fosite.ErrTemporarilyUnavailable.WithHint("The audit log is unavailable.")
	}
	s.provider.WriteAccessError(ctx, w, ar, err)
}

// narrow reduces a refresh's granted scopes to those asked for (none
// asked: all of the original grant); asking for a scope the original grant
// does not hold is invalid_scope.
func narrow(ar fosite.AccessRequester, asked string) error {
	if strings.TrimSpace(asked) == "" {
		return nil
	}
	granted := ar.GetGrantedScopes()
	var keep []string
	for _, sc := range strings.Fields(asked) {
		if !granted.Has(sc) {
			return fosite.ErrInvalidScope.WithHintf("Scope %q was not granted originally.", sc)
		}
		keep = append(keep, sc)
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithHint("Unexpected request type.")
	}
	req.GrantedScope = keep
	return nil
}

// errorCode is the RFC 6749 error code of err ("" for nil).
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	return fosite.ErrorToRFC6749Error(err).ErrorField
}

// claimedClient is the client id a request names (not authenticated):
// Basic user, client_id, or the subject of a client assertion.
func claimedClient(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return limit(u)
		}
	}
	if id := r.PostForm.Get("client_id"); id != "" {
		return limit(id)
	}
	if a := r.PostForm.Get("client_assertion"); a != "" {
		if tok, err := josejwt.ParseSigned(a); err == nil {
			var c josejwt.Claims
			if tok.UnsafeClaimsWithoutVerification(&c) == nil {
				return limit(c.Subject)
			}
		}
	}
	return ""
}

// limit keeps a claimed identifier to a sane length for the audit log.
func limit(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := s.provider.NewRevocationRequest(ctx, r)
	ev := Event{Action: "revoke", Client: claimedClient(r), Failure: errorCode(err)}
	if aerr := s.cfg.Audit.AuthEvent(ctx, ev); aerr != nil {
		err = fosite.ErrTemporarilyUnavailable.WithHint("The audit log is unavailable.")
	}
	if err == nil {
		// Revoked tokens must stop working here at once.
		s.cache.clear()
	}
	s.provider.WriteRevocationResponse(ctx, w, err)
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ir, err := s.provider.NewIntrospectionRequest(ctx, r, s.newSession())
	if aerr := s.cfg.Audit.AuthEvent(ctx, Event{Action: "introspect", Client: claimedClient(r), Failure: errorCode(err)}); aerr != nil {
		err = fosite.ErrTemporarilyUnavailable.WithHint("The audit log is unavailable.")
	}
	if err != nil {
		s.provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.provider.WriteIntrospectionResponse(ctx, w, ir)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	set := jose.JSONWebKeySet{}
	for _, k := range s.public {
		set.Keys = append(set.Keys, *k)
	}
	s.mu.RUnlock()
	writeJSON(w, set)
}

// metadata is what both discovery documents say of the server (RFC 8414
// names), with extra's entries added.
func (s *Server) metadata(extra map[string]any) map[string]any {
	base := s.Issuer()
	m := map[string]any{
		"issuer":                                base,
		"jwks_uri":                              base + JWKSPath,
		"authorization_endpoint":                base + AuthorizePath,
		"token_endpoint":                        base + TokenPath,
		"revocation_endpoint":                   base + RevokePath,
		"introspection_endpoint":                base + IntrospectPath,
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials"},
		"response_types_supported":              []string{"code"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "client_secret_basic", "none"},
		"token_endpoint_auth_signing_alg_values_supported": assertionAlgs,
		"code_challenge_methods_supported":                 []string{"S256"},
	}
	maps.Copy(m, extra)
	return m
}

func (s *Server) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.metadata(map[string]any{
		"scopes_supported": []string{"openid", "fhirUser", "system/*.cruds", "system/*.rs", "user/*.cruds", "user/*.rs",
			"launch/patient", "offline_access"},
		"capabilities": []string{"launch-standalone", "sso-openid-connect", "client-public", "client-confidential-symmetric",
			"client-confidential-asymmetric", "context-standalone-patient", "permission-offline",
			"permission-user", "permission-v1", "permission-v2"},
	}))
}

// openidConfiguration is the OpenID Connect discovery document (the
// parts that apply: no userinfo endpoint, no dynamic registration).
func (s *Server) openidConfiguration(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.metadata(map[string]any{
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                      []string{"openid", "fhirUser", "offline_access", "launch/patient"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"},
	}))
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// scopeStrategy is fosite's ScopeStrategy for SMART: a requested scope is
// allowed when a registered one covers it (system/*.rs allows
// system/Observation.rs and system/Patient.read); other scopes match
// exactly.
func scopeStrategy(haystack []string, needle string) bool {
	want, smart := access.ParseScope(needle)
	for _, h := range haystack {
		if h == needle {
			return true
		}
		if !smart {
			continue
		}
		if have, ok := access.ParseScope(h); ok && have.Covers(want) {
			return true
		}
	}
	return false
}

// secretHasher stores client secrets (32 random bytes) as SHA-256 and
// compares in constant time: they are not passwords, so a slow hash
// would only cost every token request.
type secretHasher struct{}

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	if len(hash) == 0 || !crypt.TokenMatches(hash, data) {
		return errors.New("oauth: client secret mismatch")
	}
	return nil
}

func (secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return crypt.HashToken(data), nil
}

// Meta keys of the sealed secrets.
const (
	metaSigningKeys = "oauth.signing-keys"
	metaTokenSecret = "oauth.token-secret"
)

// storedKeys are the signing keys, sealed: the current one first, then
// retired ones still published so that their tokens verify until expiry.
type storedKeys struct {
	Keys []string `json:"keys"` // base64 of crypt.SealAuth("signing-key", JWK)
}

func (s *Server) loadKeys(ctx context.Context) error {
	v, ok, err := s.cfg.Meta.Meta(ctx, metaSigningKeys)
	if err != nil {
		return err
	}
	if !ok {
		if err := RotateSigningKey(ctx, s.cfg.Meta, s.cfg.Keys); err != nil {
			return err
		}
		return s.loadKeys(ctx)
	}
	var sk storedKeys
	if err := json.Unmarshal([]byte(v), &sk); err != nil || len(sk.Keys) == 0 {
		return errors.New("oauth: the stored signing keys are damaged")
	}
	return s.useKeys(sk)
}

func (s *Server) useKeys(sk storedKeys) error {
	public := map[string]*jose.JSONWebKey{}
	private := map[string]*jose.JSONWebKey{}
	var current *jose.JSONWebKey
	for i, enc := range sk.Keys {
		sealed, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return errors.New("oauth: the stored signing keys are damaged")
		}
		raw, err := s.cfg.Keys.OpenAuth("signing-key", sealed)
		if err != nil {
			return fmt.Errorf("oauth: open signing key: %w", err)
		}
		k := new(jose.JSONWebKey)
		if err := k.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("oauth: signing key: %w", err)
		}
		pub := k.Public()
		public[k.KeyID] = &pub
		private[k.KeyID] = k
		if i == 0 {
			current = k
		}
	}
	s.mu.Lock()
	s.signing, s.public, s.private = current, public, private
	s.mu.Unlock()
	return nil
}

// RotateSigningKey makes a new ES256 signing key current in this server
// (see the package function).
func (s *Server) RotateSigningKey(ctx context.Context) error {
	if err := RotateSigningKey(ctx, s.cfg.Meta, s.cfg.Keys); err != nil {
		return err
	}
	return s.ReloadKeys(ctx)
}

// RotateSigningKey stores a new ES256 signing key as the current one. The
// previous key stays published (its tokens verify until they expire);
// older ones are dropped. Servers on the same database take the new key
// within keyReload (and at once when they meet a token it signed).
func RotateSigningKey(ctx context.Context, meta MetaStore, keys Keys) error {
	var sk storedKeys
	if v, ok, err := meta.Meta(ctx, metaSigningKeys); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal([]byte(v), &sk); err != nil {
			return errors.New("oauth: the stored signing keys are damaged")
		}
	}
	priv, _, err := crypt.NewJWK(crypt.ES256)
	if err != nil {
		return err
	}
	sealed, err := keys.SealAuth("signing-key", priv)
	if err != nil {
		return err
	}
	list := []string{base64.StdEncoding.EncodeToString(sealed)}
	if len(sk.Keys) > 0 {
		list = append(list, sk.Keys[0])
	}
	sk.Keys = list
	enc, err := json.Marshal(sk)
	if err != nil {
		return err
	}
	return meta.SetMeta(ctx, metaSigningKeys, string(enc))
}

// keyReload is how often a server reads the signing keys again, so that a
// rotation by another process (hestia keys rotate signing) takes effect.
const keyReload = 30 * time.Second

// ReloadKeys reads the signing keys from the database again.
func (s *Server) ReloadKeys(ctx context.Context) error {
	return s.loadKeys(ctx)
}

// Run reloads the signing keys every keyReload until ctx ends.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(keyReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.ReloadKeys(ctx) // on failure the keys in memory stay
		}
	}
}

// reloadForKid reloads the keys when a token names an unknown key id (a
// key rotated in by another process), at most once every 5 seconds: made-up
// key ids cannot make every request read the database.
func (s *Server) reloadForKid(ctx context.Context) {
	s.reloadMu.Lock()
	now := s.cfg.Now()
	if now.Sub(s.kidReload) < 5*time.Second {
		s.reloadMu.Unlock()
		return
	}
	s.kidReload = now
	s.reloadMu.Unlock()
	_ = s.ReloadKeys(ctx)
}

// tokenSecret is the HMAC secret of refresh tokens and codes, created on
// first use and stored sealed.
func (s *Server) tokenSecret(ctx context.Context) ([]byte, error) {
	v, ok, err := s.cfg.Meta.Meta(ctx, metaTokenSecret)
	if err != nil {
		return nil, err
	}
	if ok {
		sealed, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, errors.New("oauth: the stored token secret is damaged")
		}
		return s.cfg.Keys.OpenAuth("token-secret", sealed)
	}
	secret := crypt.RandomSecret(32)
	sealed, err := s.cfg.Keys.SealAuth("token-secret", secret)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Meta.SetMeta(ctx, metaTokenSecret, base64.StdEncoding.EncodeToString(sealed)); err != nil {
		return nil, err
	}
	return secret, nil
}
