package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store"
)

// Kinds of clients.
const (
	// Public apps (a browser or mobile app) cannot keep a secret: they
	// authenticate nothing at the token endpoint and rely on PKCE.
	Public = "public"
	// Confidential apps (a server-side web app) hold a client secret.
	Confidential = "confidential"
	// Backend services (SMART Backend Services) act without a user:
	// client_credentials, authenticated by a signed JWT assertion
	// (private_key_jwt, RS384 or ES384) or, less safely, a secret.
	Backend = "backend"
)

// ClientInfo is a registered client application, as stored.
type ClientInfo struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	SecretHash   []byte   `json:"secret_hash,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	Scopes       []string `json:"scopes"`
	// JWKS (inline) or JWKSURL holds a backend service's public keys;
	// Alg is the algorithm its assertions must use.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURL string          `json:"jwks_url,omitempty"`
	Alg     string          `json:"alg,omitempty"`
	Created time.Time       `json:"created"`
}

// ClientSpec is what `hestia client add` asks for.
type ClientSpec struct {
	Name         string
	Kind         string
	RedirectURIs []string
	Scopes       []string
	JWKS         []byte // a JWK Set of public keys (backend services)
	JWKSURL      string
	Alg          string // RS384 or ES384; from the keys when they say
	// Secret makes a backend service authenticate with a client secret
	// instead of keys.
	Secret bool
}

// Registry stores client registrations; internal/store/sqlite implements
// it.
type Registry interface {
	// AddClient stores a client, with records appended to the audit log in
	// the same transaction.
	AddClient(ctx context.Context, c store.ClientRecord, records ...[]byte) error
	Client(ctx context.Context, id string) (store.ClientRecord, error)
	Clients(ctx context.Context) ([]store.ClientRecord, error)
	RemoveClient(ctx context.Context, id string, records ...[]byte) error
}

// assertionAlgs are the client-assertion algorithms of SMART Backend
// Services.
var assertionAlgs = []string{"RS384", "ES384"}

// Register validates spec and stores a new client. It returns the client
// and, for clients with a secret, the secret: shown once, stored hashed.
//
// record, if given, makes the registration's audit record, which commits
// with the client.
func Register(ctx context.Context, reg Registry, spec ClientSpec, now time.Time, record ...func(c *ClientInfo) ([]byte, error)) (*ClientInfo, string, error) {
	c := &ClientInfo{ID: uuid.NewString(), Name: strings.TrimSpace(spec.Name), Kind: spec.Kind, Created: now.UTC()}
	if c.Name == "" {
		return nil, "", errors.New("a client needs a name")
	}
	for _, s := range spec.Scopes {
		for _, f := range strings.Fields(s) {
			if !validRegisteredScope(f, c.Kind) {
				return nil, "", fmt.Errorf("scope %q is not a SMART scope this kind of client may hold", f)
			}
			c.Scopes = append(c.Scopes, f)
		}
	}
	if len(c.Scopes) == 0 {
		return nil, "", errors.New("a client needs at least one scope (--scope)")
	}
	for _, u := range spec.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return nil, "", err
		}
		c.RedirectURIs = append(c.RedirectURIs, u)
	}
	var secret string
	switch c.Kind {
	case Public, Confidential:
		if len(c.RedirectURIs) == 0 {
			return nil, "", fmt.Errorf("a %s client needs a redirect URI (--redirect-uri)", c.Kind)
		}
		if len(spec.JWKS) > 0 || spec.JWKSURL != "" {
			return nil, "", errors.New("keys (--jwks-file, --jwks-url) are for backend services")
		}
		if c.Kind == Confidential {
			secret = crypt.RandomToken(32)
		}
	case Backend:
		if len(c.RedirectURIs) > 0 {
			return nil, "", errors.New("a backend service has no redirect URI")
		}
		switch {
		case spec.Secret && (len(spec.JWKS) > 0 || spec.JWKSURL != ""):
			return nil, "", errors.New("a backend service authenticates with keys or with a secret, not both")
		case spec.Secret:
			secret = crypt.RandomToken(32)
		case len(spec.JWKS) > 0 && spec.JWKSURL != "":
			return nil, "", errors.New("give the keys inline (--jwks-file) or by URL (--jwks-url), not both")
		case len(spec.JWKS) > 0:
			alg, err := checkJWKS(spec.JWKS, spec.Alg)
			if err != nil {
				return nil, "", err
			}
			c.JWKS, c.Alg = spec.JWKS, alg
		case spec.JWKSURL != "":
			u, err := url.Parse(spec.JWKSURL)
			if err != nil || u.Scheme != "https" || u.Host == "" {
				return nil, "", errors.New("the JWKS URL must be an https:// URL")
			}
			alg := spec.Alg
			if alg == "" {
				alg = "ES384"
			}
			if !slices.Contains(assertionAlgs, alg) {
				return nil, "", fmt.Errorf("assertion algorithm %q: use RS384 or ES384", alg)
			}
			c.JWKSURL, c.Alg = spec.JWKSURL, alg
		default:
			return nil, "", errors.New("a backend service needs its public keys (--jwks-file or --jwks-url) or --secret")
		}
	default:
		return nil, "", fmt.Errorf("unknown client kind %q", c.Kind)
	}
	if secret != "" {
		c.SecretHash = crypt.HashToken([]byte(secret))
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, "", fmt.Errorf("oauth: encode client: %w", err)
	}
	var records [][]byte
	for _, r := range record {
		rec, err := r(c)
		if err != nil {
			return nil, "", err
		}
		if rec != nil {
			records = append(records, rec)
		}
	}
	if err := reg.AddClient(ctx, store.ClientRecord{ID: c.ID, Data: data, Created: c.Created}, records...); err != nil {
		return nil, "", fmt.Errorf("register client: %w", err)
	}
	return c, secret, nil
}

// validRegisteredScope: SMART resource scopes in the contexts the kind
// may use (system/ for backend services, patient/ and user/ for apps), and
// the SMART launch and identity scopes for apps.
func validRegisteredScope(s, kind string) bool {
	if sc, ok := access.ParseScope(s); ok {
		if kind == Backend {
			return sc.Context == "system"
		}
		return sc.Context != "system"
	}
	if kind == Backend {
		return false
	}
	switch s {
	case "openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access", "online_access", access.AdminScope:
		return true
	}
	return false
}

// checkRedirectURI allows https URIs, and http only to a loopback address
// (native apps, RFC 8252); no fragments.
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("redirect URI %q is not an absolute URI without fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
	}
	return fmt.Errorf("redirect URI %q: use https (http only to localhost)", s)
}

// checkJWKS checks a JWK Set of public signing keys and returns the
// assertion algorithm (alg if given, else what the keys say).
func checkJWKS(raw []byte, alg string) (string, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return "", fmt.Errorf("the JWK Set does not parse: %w", err)
	}
	if len(set.Keys) == 0 {
		return "", errors.New("the JWK Set has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return "", errors.New("the JWK Set holds a private key: register public keys only")
		}
		if k.KeyID == "" {
			return "", errors.New("every key needs a key id (kid)")
		}
		if alg == "" {
			alg = k.Algorithm
		}
	}
	if alg == "" {
		return "", errors.New("the keys do not name their algorithm: give --alg RS384 or ES384")
	}
	if !slices.Contains(assertionAlgs, alg) {
		return "", fmt.Errorf("assertion algorithm %q: use RS384 or ES384", alg)
	}
	return alg, nil
}

// loadClient reads a client registration.
func loadClient(ctx context.Context, st interface {
	Client(ctx context.Context, id string) (store.ClientRecord, error)
}, id string) (*ClientInfo, error) {
	rec, err := st.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	c := new(ClientInfo)
	if err := json.Unmarshal(rec.Data, c); err != nil {
		return nil, fmt.Errorf("oauth: decode client %s: %w", id, err)
	}
	return c, nil
}

// Clients lists the registered clients.
func Clients(ctx context.Context, reg Registry) ([]*ClientInfo, error) {
	recs, err := reg.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ClientInfo, 0, len(recs))
	for _, r := range recs {
		c := new(ClientInfo)
		if err := json.Unmarshal(r.Data, c); err != nil {
			return nil, fmt.Errorf("oauth: decode client %s: %w", r.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// fosite is the client as fosite sees it.
func (c *ClientInfo) fosite() (fosite.Client, error) {
	dc := &fosite.DefaultClient{
		ID:           c.ID,
		Secret:       c.SecretHash,
		RedirectURIs: c.RedirectURIs,
		Scopes:       c.Scopes,
		Public:       c.Kind == Public,
	}
	oc := &fosite.DefaultOpenIDConnectClient{DefaultClient: dc}
	switch c.Kind {
	case Backend:
		dc.GrantTypes = []string{"client_credentials"}
		if c.SecretHash != nil {
			oc.TokenEndpointAuthMethod = "client_secret_basic"
			break
		}
		oc.TokenEndpointAuthMethod = "private_key_jwt"
		oc.TokenEndpointAuthSigningAlgorithm = c.Alg
		oc.JSONWebKeysURI = c.JWKSURL
		if len(c.JWKS) > 0 {
			oc.JSONWebKeys = new(jose.JSONWebKeySet)
			if err := json.Unmarshal(c.JWKS, oc.JSONWebKeys); err != nil {
				return nil, fmt.Errorf("oauth: client %s keys: %w", c.ID, err)
			}
		}
	case Confidential:
		dc.GrantTypes = []string{"authorization_code", "refresh_token"}
		dc.ResponseTypes = []string{"code"}
		oc.TokenEndpointAuthMethod = "client_secret_basic"
	case Public:
		dc.GrantTypes = []string{"authorization_code", "refresh_token"}
		dc.ResponseTypes = []string{"code"}
		oc.TokenEndpointAuthMethod = "none"
	}
	return oc, nil
}
