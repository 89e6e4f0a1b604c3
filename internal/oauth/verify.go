package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/ory/fosite"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// ErrInvalidToken is returned for any bearer token that is not a valid,
// unexpired, unrevoked access token of this server; it never says which
// check failed.
var ErrInvalidToken = errors.New("oauth: invalid access token")

// errUnknownKey: the token names a key id this server does not know (yet).
var errUnknownKey = errors.New("oauth: unknown key id")

// Claims are what a verified access token grants.
type Claims struct {
	Subject string   // who: a user id, or the client id of a backend service
	Client  string   // the client application
	Scopes  []string // granted scopes
	Expires time.Time
	// Patient is the patient in context (SMART launch/patient); FHIRUser
	// the user's own FHIR resource URL.
	Patient, FHIRUser string
	Organization      string   // the user's Organization id
	Roles             []string // the user's roles at sign-in
	// AuthTime is when the user authorized the grant (its auth_time;
	// zero for services).
	AuthTime time.Time
}

// recheck is how long a verified token is trusted without looking at its
// grant again: a revocation by another process takes effect within it (at
// once in this process).
const recheck = 10 * time.Second

// Verify checks a bearer access token: ES256 under a published key id,
// this issuer and audience, not expired, and its grant still active.
func (s *Server) Verify(ctx context.Context, raw string) (*Claims, error) {
	now := s.cfg.Now()
	key := crypt.Digest(raw)
	if c, ok := s.cache.get(key, now); ok {
		return c, nil
	}
	c, sig, err := s.verifyJWT(raw, now)
	if errors.Is(err, errUnknownKey) {
		s.reloadForKid(ctx)
		c, sig, err = s.verifyJWT(raw, now)
	}
	if err != nil {
		return nil, ErrInvalidToken
	}
	gen := s.cache.generation()
	g, err := s.cfg.Store.Grant(ctx, grantAccess, sig)
	if err != nil || !g.Active || g.ClientID != c.Client {
		return nil, ErrInvalidToken
	}
	if _, err := s.cfg.Store.Client(ctx, c.Client); err != nil {
		return nil, ErrInvalidToken
	}
	if c.Subject != c.Client && s.cfg.UserValid != nil && !s.cfg.UserValid(ctx, c.Subject, c.AuthTime, c.Roles) {
		return nil, ErrInvalidToken
	}
	until := now.Add(recheck)
	if c.Expires.Before(until) {
		until = c.Expires
	}
	s.cache.put(key, c, until, gen)
	return c, nil
}

// accessClaims are the claims Hestia puts in an access token beyond the
// registered ones.
type accessClaims struct {
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
	Patient  string   `json:"patient"`
	FHIRUser string   `json:"fhirUser"`
	Org      string   `json:"organization"`
	Roles    []string `json:"roles"`
	AuthTime float64  `json:"auth_time"` // a JSON number, which may come in exponent form
}

func (s *Server) verifyJWT(raw string, now time.Time) (*Claims, string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, "", ErrInvalidToken
	}
	tok, err := josejwt.ParseSigned(raw)
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].Algorithm != "ES256" {
		return nil, "", ErrInvalidToken
	}
	s.mu.RLock()
	pub := s.public[tok.Headers[0].KeyID]
	issuer := s.issuer
	s.mu.RUnlock()
	if pub == nil {
		return nil, "", errUnknownKey
	}
	var std josejwt.Claims
	var extra accessClaims
	if err := tok.Claims(pub.Key, &std, &extra); err != nil {
		return nil, "", ErrInvalidToken
	}
	if std.Expiry == nil || !now.Before(std.Expiry.Time()) {
		return nil, "", ErrInvalidToken
	}
	const skew = time.Minute
	if (std.NotBefore != nil && now.Add(skew).Before(std.NotBefore.Time())) || (std.IssuedAt != nil && now.Add(skew).Before(std.IssuedAt.Time())) {
		return nil, "", ErrInvalidToken
	}
	if std.Issuer != issuer || !std.Audience.Contains(issuer) || extra.ClientID == "" {
		return nil, "", ErrInvalidToken
	}
	return &Claims{Subject: std.Subject, Client: extra.ClientID, Scopes: strings.Fields(extra.Scope), Expires: std.Expiry.Time(),
		Patient: extra.Patient, FHIRUser: extra.FHIRUser, Organization: extra.Org, Roles: nonNil(extra.Roles), AuthTime: time.Unix(int64(extra.AuthTime), 0)}, parts[2], nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// verifiedCache remembers verified tokens by digest, briefly: verifying an
// ES256 signature and reading the grant for every request would cost more
// than the request.
type verifiedCache struct {
	mu  sync.Mutex
	m   map[[32]byte]cached
	gen uint64 // bumped by clear: a check that began before is not cached
}

type cached struct {
	c     *Claims
	until time.Time
}

const maxCached = 10000

func (v *verifiedCache) get(k [32]byte, now time.Time) (*Claims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(v.m, k)
		return nil, false
	}
	return e.c, true
}

func (v *verifiedCache) generation() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gen
}

// put caches a check that began at generation gen, unless a revocation
// cleared the cache since.
func (v *verifiedCache) put(k [32]byte, c *Claims, until time.Time, gen uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if gen != v.gen {
		return
	}
	if v.m == nil || len(v.m) >= maxCached {
		v.m = make(map[[32]byte]cached)
	}
	v.m[k] = cached{c: c, until: until}
}

func (v *verifiedCache) clear() {
	v.mu.Lock()
	v.m = nil
	v.gen++
	v.mu.Unlock()
}

// retryable wraps an HTTP client for fosite's key fetcher, without
// retries (a failed fetch fails the token request).
func retryable(c *http.Client) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.HTTPClient = c
	rc.RetryMax = 0
	rc.Logger = nil
	return rc
}

// jwksFetcher is fosite's key fetcher for backend services registered
// with a JWKS URL, with forced refreshes (fosite forces one for every
// unknown kid) limited to one per URL every 30 seconds: made-up key ids
// cannot make the server fetch again and again.
type jwksFetcher struct {
	inner  fosite.JWKSFetcherStrategy
	now    func() time.Time
	mu     sync.Mutex
	forced map[string]time.Time
}

func (j *jwksFetcher) Resolve(ctx context.Context, location string, ignoreCache bool) (*jose.JSONWebKeySet, error) {
	if ignoreCache {
		j.mu.Lock()
		now := j.now()
		if now.Sub(j.forced[location]) < 30*time.Second {
			ignoreCache = false
		} else {
			if len(j.forced) > 10000 {
				j.forced = map[string]time.Time{}
			}
			j.forced[location] = now
		}
		j.mu.Unlock()
	}
	return j.inner.Resolve(ctx, location, ignoreCache)
}
