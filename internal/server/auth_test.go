package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// backendClient is a registered SMART backend service and its private key.
type backendClient struct {
	id  string
	key jose.JSONWebKey
	alg string
}

func (s *testServer) registerBackend(alg, scope string) *backendClient {
	s.t.Helper()
	priv, pub, err := crypt.NewJWK(alg)
	if err != nil {
		s.t.Fatal(err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(priv); err != nil {
		s.t.Fatal(err)
	}
	jwks := []byte(`{"keys":[` + string(pub) + `]}`)
	c, _, err := oauth.Register(context.Background(), s.node.DB,
		oauth.ClientSpec{Name: "backend " + alg, Kind: oauth.Backend, JWKS: jwks, Scopes: []string{scope}}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return &backendClient{id: c.ID, key: k, alg: alg}
}

// assertion is a client assertion (RFC 7523) with claims changed by edit.
func (b *backendClient) assertion(t *testing.T, aud string, edit func(c map[string]any)) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": b.id, "sub": b.id, "aud": aud, "jti": uuid.NewString(),
		"exp": now.Add(4 * time.Minute).Unix(), "iat": now.Unix()}
	if edit != nil {
		edit(c)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(b.alg), Key: b.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", b.key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(signer).Claims(c).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenRequest posts a form to the token endpoint and returns the status
// and the JSON answer.
func (s *testServer) tokenRequest(form url.Values, basic ...string) (int, map[string]any) {
	s.t.Helper()
	return s.postForm(oauth.TokenPath, form, basic...)
}

// postForm posts a form to an OAuth endpoint, with HTTP Basic client
// credentials if given and without the test server's token, and returns
// the status and the JSON answer (nil if the body is empty).
func (s *testServer) postForm(path string, form url.Values, basic ...string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			s.t.Fatalf("%s answered %d without JSON: %v", path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, m
}

func assertionForm(scope, assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

// Without a valid access token a FHIR endpoint answers 401 with a
// WWW-Authenticate challenge (RFC 6750) and an OperationOutcome; the
// capability statement, the discovery document and the audit log's
// checkpoint stay public.
func TestEveryFHIREndpointNeedsAToken(t *testing.T) {
	s := newTestServer(t)
	p := s.create(patient("Tokenfamily"))
	for _, path := range []string{"/Patient/" + p["id"].(string), "/Patient?family=Tokenfamily", "/_history", "/AuditEvent", "/Patient/" + p["id"].(string) + "/$access-report"} {
		r := s.do("GET", path, nil, "Authorization", "")
		s.expectOutcome(r, http.StatusUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="hestia"` {
			t.Errorf("GET %s: WWW-Authenticate %q", path, got)
		}
		if strings.Contains(string(r.body), "Tokenfamily") {
			t.Fatalf("GET %s leaked data without a token", path)
		}
	}
	r := s.do("POST", "/Patient", patient("Sneakyfamily"), "Authorization", "")
	s.expectOutcome(r, http.StatusUnauthorized)
	for _, bad := range []string{"Bearer nonsense", "Bearer " + s.token + "x", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), "Bearer"} {
		r := s.do("GET", "/Patient?family=Tokenfamily", nil, "Authorization", bad)
		s.expectOutcome(r, http.StatusUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="hestia", error="invalid_token"` {
			t.Errorf("Authorization %.20q: WWW-Authenticate %q", bad, got)
		}
	}
	s.expect(s.do("GET", "/metadata", nil, "Authorization", ""), 200)
	r = s.do("GET", "/.well-known/smart-configuration", nil, "Authorization", "")
	if r.status != 200 {
		t.Fatalf("smart-configuration: %d", r.status)
	}
	conf := r.json(t)
	if conf["token_endpoint"] != s.url+oauth.TokenPath || conf["jwks_uri"] != s.url+oauth.JWKSPath {
		t.Errorf("smart-configuration endpoints: %v", conf)
	}
	if r := s.do("GET", "/audit/checkpoint", nil, "Authorization", ""); r.status != 200 {
		t.Errorf("checkpoint without a token: %d", r.status)
	}
	if got := s.expect(s.do("GET", "/Patient?family=Sneakyfamily&_summary=count", nil), 200); got["total"].(float64) != 0 {
		t.Fatal("a create without a token was stored")
	}
}

// SMART Backend Services: a client assertion signed with the client's
// registered key (ES384 or RS384) gets an ES256 access token for the
// scopes asked, which reads data; the token's claims say who and what.
func TestBackendServicesFlow(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Backendfamily"))["id"].(string)
	for _, alg := range []string{"ES384", "RS384"} {
		t.Run(alg, func(t *testing.T) {
			b := s.registerBackend(alg, "system/*.rs")
			status, tr := s.tokenRequest(assertionForm("system/Patient.rs", b.assertion(t, s.url+oauth.TokenPath, nil)))
			if status != 200 {
				t.Fatalf("token: %d %v", status, tr)
			}
			if tr["token_type"] != "bearer" || tr["scope"] != "system/Patient.rs" || tr["expires_in"].(float64) > 600 {
				t.Fatalf("token response %v", tr)
			}
			at := tr["access_token"].(string)
			tok, err := josejwt.ParseSigned(at)
			if err != nil {
				t.Fatal(err)
			}
			if h := tok.Headers[0]; h.Algorithm != "ES256" || h.KeyID == "" {
				t.Errorf("token header alg %s kid %q", h.Algorithm, h.KeyID)
			}
			var c map[string]any
			if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
				t.Fatal(err)
			}
			if c["sub"] != b.id || c["client_id"] != b.id || c["iss"] != s.url || c["scope"] != "system/Patient.rs" {
				t.Errorf("token claims %v", c)
			}
			s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at), 200)
			// The scope decides: no Observation, no writes.
			s.expectOutcome(s.do("GET", "/Observation?subject=Patient/"+pid, nil, "Authorization", "Bearer "+at), 403)
			s.expectOutcome(s.do("POST", "/Patient", patient("Scopefamily"), "Authorization", "Bearer "+at), 403)
		})
	}
	// The JWKS publishes the key the tokens verify with.
	r := s.do("GET", oauth.JWKSPath, nil, "Authorization", "")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
		t.Fatalf("jwks: %s", r.body)
	}
}

// Every refusal of the token endpoint answers with the standard error code
// and issues nothing.
func TestTokenEndpointRefusals(t *testing.T) {
	s := newTestServer(t)
	es := s.registerBackend("ES384", "system/Patient.rs")
	rs := s.registerBackend("RS384", "system/Patient.rs")
	aud := s.url + oauth.TokenPath
	none := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		p, _ := json.Marshal(map[string]any{"iss": es.id, "sub": es.id, "aud": aud, "jti": uuid.NewString(), "exp": time.Now().Add(time.Minute).Unix()})
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	// An RS384 assertion for the ES384 client: its own key id, but the
	// key and algorithm of another.
	wrongAlg := func() string {
		other := *rs
		other.id = es.id
		return other.assertion(t, aud, nil)
	}
	replayed := es.assertion(t, aud, nil)
	if st, tr := s.tokenRequest(assertionForm("system/Patient.rs", replayed)); st != 200 {
		t.Fatalf("first use of an assertion: %d %v", st, tr)
	}
	cases := []struct {
		name  string
		form  url.Values
		basic []string
		code  string
	}{
		{"alg none", assertionForm("system/Patient.rs", none()), nil, "invalid_client"},
		{"unexpected algorithm", assertionForm("system/Patient.rs", wrongAlg()), nil, "invalid_client"},
		{"wrong audience", assertionForm("system/Patient.rs", es.assertion(t, s.url+"/elsewhere", nil)), nil, "invalid_client"},
		{"wrong issuer", assertionForm("system/Patient.rs", es.assertion(t, aud, func(c map[string]any) { c["iss"] = rs.id })), nil, "invalid_client"},
		{"expired", assertionForm("system/Patient.rs", es.assertion(t, aud, func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			c["iat"] = time.Now().Add(-3 * time.Minute).Unix()
		})), nil, "invalid_client"},
		{"lifetime over five minutes", assertionForm("system/Patient.rs", es.assertion(t, aud, func(c map[string]any) { c["exp"] = time.Now().Add(30 * time.Minute).Unix() })), nil, "invalid_client"},
		{"not yet valid", assertionForm("system/Patient.rs", es.assertion(t, aud, func(c map[string]any) { c["nbf"] = time.Now().Add(3 * time.Minute).Unix() })), nil, "invalid_client"},
		{"replayed assertion", assertionForm("system/Patient.rs", replayed), nil, "invalid_client"},
		{"no jti", assertionForm("system/Patient.rs", es.assertion(t, aud, func(c map[string]any) { delete(c, "jti") })), nil, "invalid_client"},
		{"signed by another key", assertionForm("system/Patient.rs", func() string {
			other := s.registerBackend("ES384", "system/Patient.rs")
			other.id = es.id
			other.key.KeyID = es.key.KeyID
			return other.assertion(t, aud, nil)
		}()), nil, "invalid_client"},
		{"scope escalation", assertionForm("system/Observation.rs", es.assertion(t, aud, nil)), nil, "invalid_scope"},
		{"write scope on a read client", assertionForm("system/Patient.cruds", es.assertion(t, aud, nil)), nil, "invalid_scope"},
		{"no scope", assertionForm("", es.assertion(t, aud, nil)), nil, "invalid_scope"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, []string{uuid.NewString(), "secret"}, "invalid_client"},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.cruds"}}, []string{s.client, "not-the-secret"}, "invalid_client"},
		{"unsupported grant", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, []string{s.client, s.secret}, "unsupported_grant_type"},
		{"authorization code grant for a backend service", url.Values{"grant_type": {"authorization_code"}, "code": {"abc"}, "redirect_uri": {"https://app.example/cb"}, "code_verifier": {strings.Repeat("a", 43)}}, []string{s.client, s.secret}, "unauthorized_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, tr := s.tokenRequest(c.form, c.basic...)
			if tr["error"] != c.code || st < 400 || st >= 500 {
				t.Fatalf("status %d, answer %v, want error %s", st, tr, c.code)
			}
			if _, ok := tr["access_token"]; ok {
				t.Fatal("a token was issued")
			}
		})
	}
}

// Access tokens are refused at the API when tampered with, expired, signed
// by another key, revoked, or issued to a client that was removed.
func TestAccessTokenChecks(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Checkfamily"))["id"].(string)
	read := func(tok string) int {
		return s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+tok).status
	}
	if got := read(s.token); got != 200 {
		t.Fatalf("valid token: %d", got)
	}
	parts := strings.Split(s.token, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(claims), `"system/*.cruds"`, `"system/*.cruds system/*.*"`, 1)
	cases := map[string]string{
		"payload changed":  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2],
		"alg none":         base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"x"}`)) + "." + parts[1] + ".",
		"signature cut":    parts[0] + "." + parts[1] + ".",
		"another server's": otherServerToken(t),
	}
	for name, tok := range cases {
		if got := read(tok); got != 401 {
			t.Errorf("%s: %d, want 401", name, got)
		}
	}

	// Expired: a server whose tokens live one second.
	cfg := testConfig(t)
	cfg.AccessTokenTTL = time.Second
	short := openAt(t, cfg)
	spid := short.create(patient("Shortfamily"))["id"].(string)
	time.Sleep(1100 * time.Millisecond)
	if got := short.do("GET", "/Patient/"+spid, nil).status; got != 401 {
		t.Errorf("expired token: %d, want 401", got)
	}

	// Revoked (RFC 7009), then introspected (RFC 7662) as inactive.
	c, secret, err := oauth.Register(context.Background(), s.node.DB, oauth.ClientSpec{Name: "revoker", Kind: oauth.Backend, Secret: true, Scopes: []string{"system/*.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok := s.tokenFor(c.ID, secret, "system/Patient.rs")
	if got := read(tok); got != 200 {
		t.Fatalf("new token: %d", got)
	}
	if active := s.introspect(c.ID, secret, tok); active != true {
		t.Fatalf("introspection of a valid token: active %v", active)
	}
	if st, _ := s.postForm(oauth.RevokePath, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, c.ID, secret); st != 200 {
		t.Fatalf("revocation: %d", st)
	}
	if got := read(tok); got != 401 {
		t.Errorf("revoked token: %d, want 401", got)
	}
	if active := s.introspect(c.ID, secret, tok); active != false {
		t.Errorf("introspection of a revoked token: active %v", active)
	}

	// Removed client: its tokens stop working (the verified-token cache
	// is rechecked within 10 seconds; this token was never cached).
	tok2 := s.tokenFor(c.ID, secret, "system/Patient.rs")
	if err := s.node.DB.RemoveClient(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if got := read(tok2); got != 401 {
		t.Errorf("token of a removed client: %d, want 401", got)
	}
}

// introspect returns the "active" member of an introspection answer.
func (s *testServer) introspect(id, secret, tok string) any {
	s.t.Helper()
	_, m := s.postForm(oauth.IntrospectPath, url.Values{"token": {tok}}, id, secret)
	return m["active"]
}

// otherServerToken is a valid token of another Hestia server.
func otherServerToken(t *testing.T) string {
	return newTestServer(t).token
}

// A new signing key signs new tokens; tokens of the previous key verify
// until they expire, and the JWKS publishes both.
func TestSigningKeyRotation(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Rotatefamily"))["id"].(string)
	old := s.token
	if err := s.srv.auth.RotateSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := s.serviceToken("system/*.rs")
	kid := func(tok string) string {
		parsed, err := josejwt.ParseSigned(tok)
		if err != nil {
			t.Fatal(err)
		}
		return parsed.Headers[0].KeyID
	}
	if kid(old) == kid(fresh) {
		t.Fatal("the new token is signed with the old key")
	}
	for _, tok := range []string{old, fresh} {
		s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+tok), 200)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.do("GET", oauth.JWKSPath, nil).body, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("jwks after rotation: %v %v", set, err)
	}

	// Rotated by another process (hestia keys rotate signing): a token of
	// the new key verifies at once (its unknown kid makes the server read
	// the keys again), and after the reload the server signs with it.
	other, err := oauth.New(context.Background(), oauth.Config{Store: s.node.DB, Meta: s.node.DB, Keys: s.node.sealer,
		Audit: authAuditor{node: s.node}, Issuer: s.url})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.node.RotateSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := other.ReloadKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, secret, err := oauth.Register(context.Background(), s.node.DB, oauth.ClientSpec{Name: "other", Kind: oauth.Backend, Secret: true, Scopes: []string{"system/*.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewTLSServer(other.Handler())
	defer hs.Close()
	other.SetIssuer(s.url) // tokens for the test server
	third := &testServer{t: t, url: hs.URL, c: hs.Client()}
	tok := third.tokenFor(c.ID, secret, "system/Patient.rs")
	if kid(tok) == kid(fresh) {
		t.Fatal("the other process signs with the old key")
	}
	s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+tok), 200)
	if err := s.srv.auth.ReloadKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := kid(s.serviceToken("system/*.rs")); got != kid(tok) {
		t.Fatalf("after the reload the server signs with %s, want %s", got, kid(tok))
	}
}

// Token issuance and refusals, and refused bearer tokens, are in the audit
// log as DICOM User Authentication events, with the client and scopes.
func TestAuthenticationIsAudited(t *testing.T) {
	s := newTestServer(t)
	before, _ := s.node.DB.AuditHead()
	b := s.registerBackend("ES384", "system/*.rs")
	if st, _ := s.tokenRequest(assertionForm("system/Patient.rs", b.assertion(t, s.url+oauth.TokenPath, nil))); st != 200 {
		t.Fatal("token refused")
	}
	s.tokenRequest(assertionForm("system/Patient.cruds", b.assertion(t, s.url+oauth.TokenPath, nil)))
	s.do("GET", "/Patient", nil, "Authorization", "Bearer bogus")
	events := s.auditEvents(before + 3)[before:]
	var got []string
	for _, ev := range events {
		if ev["type"].(map[string]any)["code"] != "110114" {
			continue
		}
		client := ""
		for _, a := range ev["agent"].([]any) {
			if w, _ := a.(map[string]any)["who"].(map[string]any)["identifier"].(map[string]any); w["system"] == "urn:hestia:client" {
				client = w["value"].(string)
			}
		}
		if subtype(ev) != "authenticate" && client != b.id {
			continue // the test server's own token
		}
		got = append(got, subtype(ev)+":"+ev["outcome"].(string))
		if subtype(ev) == "token" && ev["outcome"] == "0" {
			if scope := detail(ev, "scope"); scope != "system/Patient.rs" {
				t.Errorf("issued token's scope in the audit event: %q", scope)
			}
		}
	}
	if want := "[token:0 token:4 authenticate:4]"; fmt.Sprint(got) != want {
		t.Fatalf("authentication events %v, want %s", got, want)
	}
}

// detail returns the value of an AuditEvent entity detail of type typ.
func detail(ev map[string]any, typ string) string {
	es, _ := ev["entity"].([]any)
	for _, e := range es {
		ds, _ := e.(map[string]any)["detail"].([]any)
		for _, d := range ds {
			if d.(map[string]any)["type"] == typ {
				return d.(map[string]any)["valueString"].(string)
			}
		}
	}
	return ""
}

// A client we did not write, golang.org/x/oauth2, completes the SMART
// Backend Services flow (client_credentials with a private_key_jwt
// assertion) and reads data with the token.
func TestGoOAuth2ClientBackendServices(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Goclientfamily"))["id"].(string)
	b := s.registerBackend("ES384", "system/*.rs")
	cc := clientcredentials.Config{
		ClientID: b.id,
		TokenURL: s.url + oauth.TokenPath,
		Scopes:   []string{"system/Patient.rs"},
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {b.assertion(t, s.url+oauth.TokenPath, nil)},
		},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	base := s.c.Transport.(bearer).next
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	hc := &http.Client{Transport: &oauth2.Transport{Source: cc.TokenSource(ctx), Base: base}}
	resp, err := hc.Get(s.url + "/Patient/" + pid)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("read with the x/oauth2 token: %d", resp.StatusCode)
	}
}

// A token for one resource type reaches no other through _include
// (with or without a target type, :iterate), chains or _has.
func TestIncludesAndChainsAreDecidedByType(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Includefamily"))["id"].(string)
	s.create(map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
		"subject": map[string]any{"reference": "Patient/" + pid}})
	tok := s.serviceToken("system/Observation.rs")
	get := func(q string) *response {
		return s.do("GET", q, nil, "Authorization", "Bearer "+tok)
	}
	if r := get("/Observation?subject=Patient/" + pid); r.status != 200 {
		t.Fatalf("own type: %d", r.status)
	}
	for _, q := range []string{
		"/Observation?_include=Observation:subject",
		"/Observation?_include=Observation:subject:Patient",
		"/Observation?_include=Observation:*",
		"/Observation?_include:iterate=Observation:subject",
		"/Observation?subject:Patient.family=Includefamily",
		"/Observation?subject.family=Includefamily",
		"/Observation?_has:DiagnosticReport:result:code=x",
		"/Observation?_revinclude=Provenance:target",
	} {
		r := get(q)
		if r.status != 403 || strings.Contains(string(r.body), "Includefamily") {
			t.Errorf("%s: %d, want 403\n%s", q, r.status, r.body)
		}
	}
}

// The OAuth endpoints answer a wrong method or path in OAuth's JSON error
// form (405 with Allow, 404), and introspection is audited.
func TestOAuthEndpointErrors(t *testing.T) {
	s := newTestServer(t)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", oauth.TokenPath, 405, "POST"},
		{"GET", oauth.RevokePath, 405, "POST"},
		{"POST", oauth.JWKSPath, 405, "GET"},
		{"PUT", oauth.AuthorizePath, 405, "GET, POST"},
		{"GET", "/oauth2/nothing", 404, ""},
	} {
		r := s.do(c.method, c.path, nil, "Authorization", "")
		if r.status != c.status || r.header.Get("Allow") != c.allow || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%s %s: %d Allow %q %s", c.method, c.path, r.status, r.header.Get("Allow"), r.body)
		}
	}
	before, _ := s.node.DB.AuditHead()
	if active := s.introspect(s.client, s.secret, s.token); active != true {
		t.Fatalf("introspection: %v", active)
	}
	found := false
	for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		head, _ := s.node.DB.AuditHead()
		for _, ev := range s.auditEvents(head)[before:] {
			found = found || subtype(ev) == "token-introspect" && ev["outcome"] == "0"
		}
	}
	if !found {
		t.Fatal("no token-introspect event")
	}
}
