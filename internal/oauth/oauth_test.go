package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store"
)

// memStore keeps the authorization server's records in memory.
type memStore struct {
	mu      sync.Mutex
	clients map[string]store.ClientRecord
	grants  map[string]store.Grant
	jtis    map[string]time.Time
	meta    map[string]string
	events  []Event
}

func newMemStore() *memStore {
	return &memStore{clients: map[string]store.ClientRecord{}, grants: map[string]store.Grant{}, jtis: map[string]time.Time{}, meta: map[string]string{}}
}

func (m *memStore) AddClient(_ context.Context, c store.ClientRecord, _ ...[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[c.ID]; ok {
		return store.ErrConflict
	}
	m.clients[c.ID] = c
	return nil
}

func (m *memStore) Client(_ context.Context, id string) (store.ClientRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

func (m *memStore) Clients(context.Context) ([]store.ClientRecord, error) { return nil, nil }

func (m *memStore) RemoveClient(_ context.Context, id string, _ ...[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.clients, id)
	return nil
}

func (m *memStore) PutGrant(_ context.Context, g store.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.grants[g.Kind+"/"+g.Key] = g
	return nil
}

func (m *memStore) Grant(_ context.Context, kind, key string) (store.Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.grants[kind+"/"+key]
	if !ok {
		return g, store.ErrNotFound
	}
	return g, nil
}

func (m *memStore) DeactivateGrant(_ context.Context, kind, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.grants[kind+"/"+key]
	if !ok {
		return store.ErrNotFound
	}
	if !g.Active {
		return store.ErrConflict // as the drivers: only the first use wins
	}
	g.Active = false
	m.grants[kind+"/"+key] = g
	return nil
}

func (m *memStore) DeleteGrant(_ context.Context, kind, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.grants, kind+"/"+key)
	return nil
}

func (m *memStore) RevokeGrants(_ context.Context, kind, requestID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, g := range m.grants {
		if g.RequestID == requestID && (kind == "" || g.Kind == kind) {
			g.Active = false
			m.grants[k] = g
		}
	}
	return nil
}

func (m *memStore) RevokeSubject(_ context.Context, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, g := range m.grants {
		if g.Subject == subject {
			g.Active = false
			m.grants[k] = g
		}
	}
	return nil
}

func (m *memStore) PruneGrants(context.Context, time.Time) error { return nil }

func (m *memStore) JTIKnown(_ context.Context, jti string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.jtis[jti]
	return ok && !exp.Before(now), nil
}

func (m *memStore) AddJTI(_ context.Context, jti string, exp, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jtis[jti]; ok {
		return store.ErrConflict
	}
	m.jtis[jti] = exp
	return nil
}

func (m *memStore) Meta(_ context.Context, key string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[key]
	return v, ok, nil
}

func (m *memStore) SetMeta(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta[key] = value
	return nil
}

func (m *memStore) AuthEvent(_ context.Context, ev Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return nil
}

// plainSealer binds data to its purpose without encrypting (tests only).
type plainSealer struct{}

func (plainSealer) SealAuth(purpose string, b []byte) ([]byte, error) {
	return append([]byte(purpose+"\x00"), b...), nil
}

func (plainSealer) OpenAuth(purpose string, b []byte) ([]byte, error) {
	p := []byte(purpose + "\x00")
	if !strings.HasPrefix(string(b), string(p)) {
		return nil, errWrongPurpose
	}
	return b[len(p):], nil
}

var errWrongPurpose = &url.Error{Op: "open", Err: http.ErrNotSupported}

// newTestAuth is an authorization server on memory, behind httptest, with
// a backend service holding a secret.
func newTestAuth(t testing.TB) (*Server, *memStore, *httptest.Server, string, string) {
	m := newMemStore()
	s, err := New(context.Background(), Config{Store: m, Meta: m, Keys: plainSealer{}, Audit: m})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	s.SetIssuer(hs.URL)
	c, secret, err := Register(context.Background(), m, ClientSpec{Name: "svc", Kind: Backend, Secret: true, Scopes: []string{"system/*.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s, m, hs, c.ID, secret
}

func fetchToken(t testing.TB, hs *httptest.Server, id, secret string) string {
	req, _ := http.NewRequest("POST", hs.URL+TokenPath, strings.NewReader("grant_type=client_credentials&scope=system/Patient.rs"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(resp, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return tr.AccessToken
}

func TestVerify(t *testing.T) {
	s, m, hs, id, secret := newTestAuth(t)
	tok := fetchToken(t, hs, id, secret)
	c, err := s.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != id || c.Client != id || strings.Join(c.Scopes, " ") != "system/Patient.rs" {
		t.Fatalf("claims %+v", c)
	}
	if len(m.events) != 1 || m.events[0].Action != "token" || m.events[0].Failure != "" {
		t.Fatalf("events %+v", m.events)
	}
	// The cache does not outlive a revocation by another process: once
	// the grant is inactive, the next recheck refuses the token.
	for k, g := range m.grants {
		g.Active = false
		m.grants[k] = g
	}
	s.cfg.Now = func() time.Time { return time.Now().Add(recheck + time.Second) }
	if _, err := s.Verify(context.Background(), tok); err != ErrInvalidToken {
		t.Fatalf("token of an inactive grant: %v", err)
	}
}

// BenchmarkVerify is what authentication adds to a request: "cached" is a
// token seen within the last 10 seconds (the usual case: a client sends
// the same token until it expires); "full" checks the ES256 signature and
// the grant every time (what the first request with a token pays, and
// every request after the 10-second recheck).
func BenchmarkVerify(b *testing.B) {
	s, _, hs, id, secret := newTestAuth(b)
	tok := fetchToken(b, hs, id, secret)
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			s.cache.clear()
			if _, err := s.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

// A backend service registered with a JWKS URL authenticates with an
// assertion signed by a key published there; a SMART v2 scope with a query
// constraint travels in the token as granted.
func TestBackendKeysByURL(t *testing.T) {
	priv, pub, err := crypt.NewJWK(crypt.ES384)
	if err != nil {
		t.Fatal(err)
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(priv); err != nil {
		t.Fatal(err)
	}
	keys := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys":[` + string(pub) + `]}`))
	}))
	defer keys.Close()
	m := newMemStore()
	s, err := New(context.Background(), Config{Store: m, Meta: m, Keys: plainSealer{}, Audit: m, JWKSClient: keys.Client()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	s.SetIssuer(hs.URL)
	c, _, err := Register(context.Background(), m, ClientSpec{Name: "lab", Kind: Backend, JWKSURL: keys.URL + "/jwks.json",
		Scopes: []string{"system/Observation.rs?category=laboratory"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
	assertion, _ := josejwt.Signed(signer).Claims(map[string]any{"iss": c.ID, "sub": c.ID, "aud": hs.URL + TokenPath,
		"jti": crypt.RandomToken(8), "exp": time.Now().Add(time.Minute).Unix()}).CompactSerialize()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.rs?category=laboratory"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	resp, err := http.PostForm(hs.URL+TokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr map[string]any
	json.NewDecoder(resp.Body).Decode(&tr)
	tok, _ := tr["access_token"].(string)
	if resp.StatusCode != 200 || tok == "" {
		t.Fatalf("token with keys by URL: %d %v", resp.StatusCode, tr)
	}
	claims, err := s.Verify(context.Background(), tok)
	if err != nil || strings.Join(claims.Scopes, " ") != "system/Observation.rs?category=laboratory" {
		t.Fatalf("verified claims %+v, %v", claims, err)
	}
}
