package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/oauth"
	"github.com/hestiahealth/hestia/internal/pgtest"
)

// testServer is a whole Hestia (SQLite, engine, REST, middleware) behind
// an httptest TLS server.
type testServer struct {
	t    testing.TB
	url  string
	c    *http.Client
	node *Node
	srv  *Server
	cert []byte // the server's TLS certificate (DER)
	// storage is the PostgreSQL URL of the database ("" for SQLite).
	storage string
	// token is sent as the bearer token of every request that does not
	// set Authorization itself (an empty value sends none: see bearer).
	token  string
	client string // the client id of token
	secret string // and its secret
	// launch, when set, is the launch patient of the user tokens
	// roleToken issues; org the Organization of the accounts it creates.
	launch, org string
}

// bearer adds the test server's token to requests without an
// Authorization header.
type bearer struct {
	s    *testServer
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, set := r.Header["Authorization"]; !set && b.s.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.s.token)
	}
	return b.next.RoundTrip(r)
}

// testConfig is the default configuration on a data directory and a key
// directory of the test's own, with synchronous=NORMAL (tests need not
// survive power loss).
//
// With HESTIA_TEST_STORAGE=postgres (TestSuiteOnPostgres sets it for a
// run of this package's tests) the database is a fresh PostgreSQL
// database instead.
func testConfig(t testing.TB) Config {
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.KeyDir = filepath.Join(t.TempDir(), "keys")
	cfg.Synchronous = "NORMAL"
	if onPostgres() {
		cfg.Storage = pgtest.DSN(t)
	}
	return cfg
}

// onPostgres reports whether this run of the tests stores on PostgreSQL.
func onPostgres() bool { return os.Getenv("HESTIA_TEST_STORAGE") == "postgres" }

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	cfg := testConfig(t)
	cfg.MaxBody = 8 << 20
	return openAt(t, cfg)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %v\n%s", r.status, err, r.body)
	}
	return m
}

// do sends a request; body may be a string, []byte or a value to encode.
func (s *testServer) do(method, path string, body any, headers ...string) *response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// serviceToken registers a backend service with a client secret and the
// given scopes, and returns an access token from the token endpoint.
func (s *testServer) serviceToken(scope string) string {
	s.t.Helper()
	c, secret, err := oauth.Register(context.Background(), s.node.DB,
		oauth.ClientSpec{Name: "test", Kind: oauth.Backend, Secret: true, Scopes: []string{scope}}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if s.client == "" {
		s.client, s.secret = c.ID, secret
	}
	return s.tokenFor(c.ID, secret, scope)
}

// tokenFor asks the token endpoint for a client-credentials token.
func (s *testServer) tokenFor(id, secret, scope string) string {
	s.t.Helper()
	st, tr := s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, id, secret)
	tok, _ := tr["access_token"].(string)
	if tok == "" {
		s.t.Fatalf("token request: status %d, answer %v", st, tr)
	}
	return tok
}

// expect checks the status and returns the JSON body (nil when empty).
func (s *testServer) expect(r *response, status int) map[string]any {
	s.t.Helper()
	if r.status != status {
		s.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		s.t.Fatalf("Content-Type %q", ct)
	}
	return r.json(s.t)
}

// expectOutcome checks an error status with an OperationOutcome body.
func (s *testServer) expectOutcome(r *response, status int) map[string]any {
	s.t.Helper()
	m := s.expect(r, status)
	if m["resourceType"] != "OperationOutcome" {
		s.t.Fatalf("status %d without an OperationOutcome: %s", status, r.body)
	}
	return m
}

func (s *testServer) create(res map[string]any) map[string]any {
	s.t.Helper()
	return s.expect(s.do("POST", "/"+res["resourceType"].(string), res), http.StatusCreated)
}

// entries returns a Bundle's entry resources.
func entries(b map[string]any) []map[string]any {
	var out []map[string]any
	es, _ := b["entry"].([]any)
	for _, e := range es {
		if r, ok := e.(map[string]any)["resource"].(map[string]any); ok {
			out = append(out, r)
		}
	}
	return out
}

func link(b map[string]any, rel string) string {
	ls, _ := b["link"].([]any)
	for _, l := range ls {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

func patient(family string, given ...string) map[string]any {
	g := make([]any, len(given))
	for i, x := range given {
		g[i] = x
	}
	name := map[string]any{"family": family}
	if len(g) > 0 {
		name["given"] = g
	}
	return map[string]any{"resourceType": "Patient", "name": []any{name}}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
