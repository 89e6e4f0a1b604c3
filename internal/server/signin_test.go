package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// browser is an HTTP client with cookies that does not follow redirects,
// so that each step of a sign-in can be checked.
type browser struct {
	t testing.TB
	s *testServer
	c *http.Client
	// last is the body of the last page.
	last string
	// recovery are the recovery codes signIn was shown.
	recovery []string
}

func (s *testServer) browser() *browser {
	jar, _ := cookiejar.New(nil)
	tr := s.c.Transport
	if b, ok := tr.(bearer); ok {
		tr = b.next // a browser sends no bearer token
	}
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the status and Location; the body is in
// b.last.
func (b *browser) do(method, target string, form url.Values) (int, string) {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.s.url + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	b.last = string(data)
	return resp.StatusCode, resp.Header.Get("Location")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the last page's form.
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", b.last)
	}
	return html.UnescapeString(m[1])
}

// expectRedirect checks a 303 to a path (or URL prefix) and returns the
// Location.
func (b *browser) expectRedirect(status int, loc, want string) string {
	b.t.Helper()
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, want) {
		b.t.Fatalf("status %d to %q, want a redirect to %s\n%s", status, loc, want, b.last)
	}
	return loc
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	v := crypt.RandomToken(32)
	h := crypt.Digest(v)
	return v, b64url(h[:])
}

func b64url(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
}

func authorizeURL(s *testServer, client, challenge string, scope string, extra ...string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {"https://app.example/cb"},
		"scope": {scope}, "state": {"state-" + crypt.RandomToken(8)}, "aud": {s.url},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return oauth.AuthorizePath + "?" + q.Encode()
}

// signIn walks a new staff account from its one-time password through the
// password change and MFA enrolment to a signed-in session, starting at
// start (a page that redirects to the sign-in); it returns the TOTP secret
// and the Location after sign-in.
func (b *browser) signIn(start, username, otp, newPassword string) (string, string) {
	b.t.Helper()
	st, loc := b.do("GET", start, nil)
	loc = b.expectRedirect(st, loc, "/signin?next=")
	b.do("GET", loc, nil)
	st, loc = b.do("POST", "/signin", url.Values{"csrf": {b.csrf()}, "username": {username}, "password": {otp}})
	b.expectRedirect(st, loc, "/signin/password")
	b.do("GET", "/signin/password", nil)
	st, loc = b.do("POST", "/signin/password", url.Values{"csrf": {b.csrf()}, "current": {otp}, "new": {newPassword}, "confirm": {newPassword}})
	b.expectRedirect(st, loc, "/signin/enrol")
	b.do("GET", "/signin/enrol", nil)
	secret := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(b.last)
	if secret == nil {
		b.t.Fatalf("no TOTP secret on the enrolment page:\n%s", b.last)
	}
	code, _ := auth.TOTPCode(secret[1], time.Now())
	st, loc = b.do("POST", "/signin/enrol", url.Values{"csrf": {b.csrf()}, "code": {code}})
	b.expectRedirect(st, loc, "/signin/recovery")
	b.do("GET", "/signin/recovery", nil)
	b.recovery = nil
	for _, m := range regexp.MustCompile(`<li><code>([^<]+)</code>`).FindAllStringSubmatch(b.last, -1) {
		b.recovery = append(b.recovery, m[1])
	}
	if n := len(b.recovery); n != auth.RecoveryCodes {
		b.t.Fatalf("%d recovery codes shown", n)
	}
	st, loc = b.do("GET", "/signin/enrol", nil)
	return secret[1], b.expectRedirect(st, loc, "/")
}

func (s *testServer) codeExchange(client, code, verifier string) (int, map[string]any) {
	return s.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {client},
		"redirect_uri": {"https://app.example/cb"}, "code_verifier": {verifier}})
}

// The SMART App Launch flow, end to end: a clinician with a one-time
// password is sent to sign in from the app's authorization request,
// changes the password, enrols an authenticator, picks a patient, grants
// fewer scopes than asked; the app exchanges the code with its PKCE
// verifier and reads with the token. Then the protections: a replayed
// code revokes what it issued, a reused refresh token revokes the family,
// and a refresh cannot widen the scope.
func TestAuthorizationCodeFlow(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Launchfamily"))["id"].(string)
	s.create(careTeam(pid, "pr1")) // the clinician treats the patient
	ctx := context.Background()
	u, otp, err := s.node.AddUser(localCtx(), auth.NewUser{Username: "dr.who", Roles: []string{"clinician"}, Practitioner: "pr1"})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := oauth.Register(ctx, s.node.DB, oauth.ClientSpec{Name: "Chart Viewer", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/*.rs launch/patient offline_access openid fhirUser"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	verifier, challenge := pkce()
	start := authorizeURL(s, app.ID, challenge, "openid fhirUser user/Patient.rs user/Observation.rs launch/patient offline_access", "nonce", "n-0S6_WzA2Mj")
	b := s.browser()
	_, next := b.signIn(start, "dr.who", otp, "a fresh clinician passphrase")
	if !strings.HasPrefix(next, oauth.AuthorizePath) {
		t.Fatalf("after sign-in to %s, want back to the authorization request", next)
	}
	st, _ := b.do("GET", next, nil)
	if st != 200 || !strings.Contains(b.last, "Chart Viewer") || !strings.Contains(b.last, `name="patient"`) {
		t.Fatalf("authorization screen %d:\n%s", st, b.last)
	}
	// An unknown patient is refused on the screen.
	st, _ = b.do("POST", next, url.Values{"csrf": {b.csrf()}, "decision": {"allow"}, "grant": {"user/Patient.rs"}, "patient": {"no-such-patient"}})
	if st != 400 {
		t.Fatalf("unknown patient: %d", st)
	}
	st, loc := b.do("POST", next, url.Values{"csrf": {b.csrf()}, "decision": {"allow"},
		"grant": {"openid", "fhirUser", "user/Patient.rs", "launch/patient", "offline_access"}, "patient": {pid}})
	cb := b.expectRedirect(st, loc, "https://app.example/cb?")
	cbu, _ := url.Parse(cb)
	code := cbu.Query().Get("code")
	if code == "" || !strings.Contains(start, url.QueryEscape(cbu.Query().Get("state"))) {
		t.Fatalf("callback %s", cb)
	}

	st, tr := s.codeExchange(app.ID, code, verifier)
	if st != 200 || tr["patient"] != pid || tr["scope"] != "openid fhirUser user/Patient.rs launch/patient offline_access" || tr["refresh_token"] == nil {
		t.Fatalf("code exchange: %d %v", st, tr)
	}
	// The ID token: signed by a published key, for this app, naming the
	// user and their FHIR resource, with the nonce sent.
	idt, _ := tr["id_token"].(string)
	parsed, err := josejwt.ParseSigned(idt)
	if err != nil {
		t.Fatalf("id_token %q: %v", idt, err)
	}
	var set jose.JSONWebKeySet
	json.Unmarshal(s.do("GET", oauth.JWKSPath, nil).body, &set)
	keys := set.Key(parsed.Headers[0].KeyID)
	var idc map[string]any
	if len(keys) != 1 || parsed.Headers[0].Algorithm != "ES256" || parsed.Claims(keys[0].Key, &idc) != nil {
		t.Fatalf("id_token does not verify with the JWKS (kid %q)", parsed.Headers[0].KeyID)
	}
	if idc["sub"] != u.ID || idc["aud"] != app.ID && fmt.Sprint(idc["aud"]) != "["+app.ID+"]" || idc["iss"] != s.url ||
		idc["fhirUser"] != s.url+"/Practitioner/pr1" || idc["nonce"] != "n-0S6_WzA2Mj" || idc["auth_time"] == nil {
		t.Fatalf("id_token claims %v", idc)
	}
	if d := s.do("GET", oauth.OIDCConfig, nil, "Authorization", ""); d.status != 200 || !strings.Contains(string(d.body), `"id_token_signing_alg_values_supported":["ES256"]`) {
		t.Fatalf("openid-configuration: %d %s", d.status, d.body)
	}
	at, rt := tr["access_token"].(string), tr["refresh_token"].(string)
	claims := jwtClaims(t, at)
	if claims["sub"] != u.ID || claims["fhirUser"] != s.url+"/Practitioner/pr1" || claims["patient"] != pid {
		t.Fatalf("access token claims %v", claims)
	}
	s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at), 200)
	// Not granted: Observation (unticked), and writes.
	s.expectOutcome(s.do("GET", "/Observation?subject=Patient/"+pid, nil, "Authorization", "Bearer "+at), 403)

	// Refresh: a new pair; narrowing is allowed, widening is not.
	if st, tr := s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ID}, "scope": {"user/*.rs"}}); tr["error"] != "invalid_scope" {
		t.Fatalf("widening refresh: %d %v", st, tr)
	}
	st, tr = s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ID}})
	if st != 200 || tr["refresh_token"] == rt || tr["patient"] != pid || tr["id_token"] == nil {
		t.Fatalf("refresh: %d %v", st, tr)
	}
	at2, rt2 := tr["access_token"].(string), tr["refresh_token"].(string)
	if got := s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at).status; got != 401 {
		t.Errorf("the access token before a refresh still works: %d", got)
	}
	s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at2), 200)
	// Reusing the old refresh token revokes the whole family.
	if st, tr := s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ID}}); tr["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", st, tr)
	}
	if got := s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at2).status; got != 401 {
		t.Errorf("the family's access token after a reuse: %d", got)
	}
	if _, tr := s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "client_id": {app.ID}}); tr["error"] != "invalid_grant" {
		t.Errorf("the family's refresh token after a reuse: %v", tr)
	}

	// A replayed code is refused and revokes what it issued.
	b2 := s.browser()
	b2.c.Jar = b.c.Jar // the same signed-in browser
	v2, c2 := pkce()
	st, loc = b2.do("GET", authorizeURL(s, app.ID, c2, "user/Patient.rs"), nil)
	if st != 200 {
		t.Fatalf("second authorization while signed in: %d %s", st, loc)
	}
	st, loc = b2.do("POST", authorizeURL(s, app.ID, c2, "user/Patient.rs"), url.Values{"csrf": {b2.csrf()}, "decision": {"allow"}, "grant": {"user/Patient.rs"}})
	cbu, _ = url.Parse(b2.expectRedirect(st, loc, "https://app.example/cb?"))
	code2 := cbu.Query().Get("code")
	_, tr = s.codeExchange(app.ID, code2, v2)
	at3, _ := tr["access_token"].(string)
	s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at3), 200)
	if st, tr := s.codeExchange(app.ID, code2, v2); tr["error"] != "invalid_grant" {
		t.Fatalf("replayed code: %d %v", st, tr)
	}
	if got := s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at3).status; got != 401 {
		t.Errorf("token of a replayed code still works: %d", got)
	}

	// A wrong PKCE verifier does not redeem a code, and burns it.
	v4, c4 := pkce()
	b2.do("GET", authorizeURL(s, app.ID, c4, "user/Patient.rs"), nil)
	st, loc = b2.do("POST", authorizeURL(s, app.ID, c4, "user/Patient.rs"), url.Values{"csrf": {b2.csrf()}, "decision": {"allow"}, "grant": {"user/Patient.rs"}})
	cbu, _ = url.Parse(b2.expectRedirect(st, loc, "https://app.example/cb?"))
	if st, tr := s.codeExchange(app.ID, cbu.Query().Get("code"), v4+"x"); tr["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", st, tr)
	}
	if st, tr := s.codeExchange(app.ID, cbu.Query().Get("code"), v4); tr["error"] != "invalid_grant" {
		t.Fatalf("the right verifier after a wrong one: %d %v", st, tr)
	}

	// Deny: back to the app with access_denied.
	_, c3 := pkce()
	b2.do("GET", authorizeURL(s, app.ID, c3, "user/Patient.rs"), nil)
	st, loc = b2.do("POST", authorizeURL(s, app.ID, c3, "user/Patient.rs"), url.Values{"csrf": {b2.csrf()}, "decision": {"deny"}})
	if cbu, _ = url.Parse(b2.expectRedirect(st, loc, "https://app.example/cb?")); cbu.Query().Get("error") != "access_denied" {
		t.Fatalf("deny: %s", loc)
	}

	// Sign-out ends the session: the next request must sign in again.
	b2.do("GET", "/signin/done", nil)
	b2.do("POST", "/signout", url.Values{"csrf": {b2.csrf()}})
	st, loc = b2.do("GET", authorizeURL(s, app.ID, c3, "user/Patient.rs"), nil)
	b2.expectRedirect(st, loc, "/signin?next=")
}

// Requests the authorization endpoint refuses: PKCE missing or plain, a
// redirect URI that is not registered (an error page, never a redirect),
// a scope the app may not ask for, a wrong aud.
func TestAuthorizeRefusals(t *testing.T) {
	s := newTestServer(t)
	app, _, err := oauth.Register(context.Background(), s.node.DB, oauth.ClientSpec{Name: "App", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/Patient.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, challenge := pkce()
	b := s.browser()
	for _, c := range []struct {
		name  string
		extra []string
		code  string
	}{
		{"no PKCE", []string{"code_challenge", "", "code_challenge_method", ""}, "invalid_request"},
		{"plain PKCE", []string{"code_challenge_method", "plain", "code_challenge", strings.Repeat("a", 43)}, "invalid_request"},
		{"scope the app may not ask", []string{"scope", "user/Observation.rs"}, "invalid_scope"},
		{"wrong aud", []string{"aud", "https://elsewhere.example/fhir"}, "invalid_request"},
		{"short state", []string{"state", "abc"}, "invalid_state"},
		{"token response type", []string{"response_type", "token"}, "unsupported_response_type"},
	} {
		st, loc := b.do("GET", authorizeURL(s, app.ID, challenge, "user/Patient.rs", c.extra...), nil)
		u, _ := url.Parse(loc)
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "https://app.example/cb") || u.Query().Get("error") != c.code {
			t.Errorf("%s: %d %s, want a redirect with error %s", c.name, st, loc, c.code)
		}
	}
	for _, redirect := range []string{"https://evil.example/cb", "https://app.example/cb/extra", "https://app.example/cb?x=1"} {
		st, loc := b.do("GET", authorizeURL(s, app.ID, challenge, "user/Patient.rs", "redirect_uri", redirect), nil)
		if st < 400 || loc != "" {
			t.Errorf("redirect %s: %d to %q, want an error without redirect", redirect, st, loc)
		}
	}
}

// Sign-in failures look alike and are audited; throttling starts after
// three; the CSRF token is required; idle sessions end.
func TestSignInProtections(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionIdle = time.Second
	s := openAt(t, cfg)
	if _, _, err := s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.k", Roles: []string{"nurse"}, Password: "a long nurse passphrase"}); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.do("GET", "/signin", nil)
	csrf := b.csrf()
	st, _ := b.do("POST", "/signin", url.Values{"username": {"nurse.k"}, "password": {"a long nurse passphrase"}})
	if st != http.StatusForbidden {
		t.Fatalf("sign-in without the CSRF token: %d", st)
	}
	var msgs []string
	for _, name := range []string{"nurse.k", "nobody"} {
		st, _ := b.do("POST", "/signin", url.Values{"csrf": {csrf}, "username": {name}, "password": {"wrong password here"}})
		msgs = append(msgs, regexp.MustCompile(`<strong>(.*)</strong>`).FindString(b.last))
		if st != http.StatusUnauthorized {
			t.Fatalf("wrong password for %s: %d", name, st)
		}
	}
	if msgs[0] != msgs[1] || msgs[0] == "" {
		t.Fatalf("failures differ: %q", msgs)
	}
	b.do("POST", "/signin", url.Values{"csrf": {csrf}, "username": {"nurse.k"}, "password": {"wrong again"}})
	b.do("POST", "/signin", url.Values{"csrf": {csrf}, "username": {"nurse.k"}, "password": {"wrong again"}})
	st, _ = b.do("POST", "/signin", url.Values{"csrf": {csrf}, "username": {"nurse.k"}, "password": {"a long nurse passphrase"}})
	if st != http.StatusUnauthorized || !strings.Contains(b.last, "Too many failed attempts") {
		t.Fatalf("after failures: %d %s", st, b.last)
	}
	// The events: failures, with the account's id when the name is one.
	var logins []string
	for deadline := time.Now().Add(5 * time.Second); len(logins) < 5 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		head, _ := s.node.DB.AuditHead()
		logins = nil
		for _, ev := range s.auditEvents(head) {
			if subtype(ev) == "110122" { // DICOM Login
				logins = append(logins, ev["outcome"].(string)+":"+ev["outcomeDesc"].(string))
			}
		}
	}
	if len(logins) != 5 || logins[0] != "4:bad_credentials" || logins[4] != "4:throttled" {
		t.Fatalf("login events %v", logins)
	}
	// Idle timeout: the session is gone after a second without requests.
	time.Sleep(1100 * time.Millisecond)
	st, _ = b.do("POST", "/signin", url.Values{"csrf": {csrf}, "username": {"nurse.k"}, "password": {"x"}})
	if st != http.StatusForbidden {
		t.Fatalf("a form of an expired session: %d", st)
	}
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	data, err := b64dec(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func b64dec(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func localCtx() context.Context { return access.WithPrincipal(context.Background(), access.Local()) }

// A patient's account cannot grant an app user/ scopes, and user/ scopes
// reach data only for clinical roles: a patient's password is not a key to
// every record.
func TestPatientAccountsCannotReachOthers(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	me := s.create(patient("Mefamily"))["id"].(string)
	other := s.create(patient("Otherfamily"))["id"].(string)
	_, otp, err := s.node.AddUser(localCtx(), auth.NewUser{Username: "pat.me", Roles: []string{"patient"}, Patient: me})
	if err != nil {
		t.Fatal(err)
	}
	app, _, _ := oauth.Register(ctx, s.node.DB, oauth.ClientSpec{Name: "Greedy App", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/*.cruds patient/*.rs launch/patient"}}, time.Now())
	_, challenge := pkce()
	start := authorizeURL(s, app.ID, challenge, "user/*.cruds launch/patient")
	b := s.browser()
	st, loc := b.do("GET", start, nil)
	b.do("GET", b.expectRedirect(st, loc, "/signin?next="), nil)
	st, loc = b.do("POST", "/signin", url.Values{"csrf": {b.csrf()}, "username": {"pat.me"}, "password": {otp}})
	b.expectRedirect(st, loc, "/signin/password")
	b.do("GET", "/signin/password", nil)
	st, loc = b.do("POST", "/signin/password", url.Values{"csrf": {b.csrf()}, "current": {otp}, "new": {"a patient's passphrase"}, "confirm": {"a patient's passphrase"}})
	next := b.expectRedirect(st, loc, oauth.AuthorizePath) // patients need no MFA
	b.do("GET", next, nil)
	st, loc = b.do("POST", next, url.Values{"csrf": {b.csrf()}, "decision": {"allow"}, "grant": {"user/*.cruds", "launch/patient"}})
	if u, _ := url.Parse(loc); st != http.StatusSeeOther || u.Query().Get("error") != "invalid_scope" {
		t.Fatalf("a patient granting user/*.cruds: %d %s", st, loc)
	}
	// A standalone launch by the patient: the context is their own record.
	v2, c2 := pkce()
	own := authorizeURL(s, app.ID, c2, "patient/Patient.rs launch/patient")
	b.do("GET", own, nil)
	if strings.Contains(b.last, `name="patient"`) {
		t.Fatal("a patient is offered the patient picker")
	}
	st, loc = b.do("POST", own, url.Values{"csrf": {b.csrf()}, "decision": {"allow"}, "grant": {"patient/Patient.rs", "launch/patient"}})
	cb, _ := url.Parse(b.expectRedirect(st, loc, "https://app.example/cb?"))
	if st, tr := s.codeExchange(app.ID, cb.Query().Get("code"), v2); st != 200 || tr["patient"] != me {
		t.Fatalf("the patient's own launch: %d %v", st, tr)
	}

	// Even a token with user/ scopes and the patient role gets nothing.
	r := s.do("GET", "/Patient/"+other, nil, "Authorization", "Bearer "+s.userScopedToken(app.ID, "pat.me", []string{"patient"}, "user/*.cruds"))
	if r.status != 403 || strings.Contains(string(r.body), "Otherfamily") {
		t.Fatalf("a patient's user/ token: %d %s", r.status, r.body)
	}
}

// userScopedToken issues a token the way the authorization endpoint would
// (the consent screen bypassed): for a policy test of what such a token
// may do.
func (s *testServer) userScopedToken(client, username string, roles []string, scope string) string {
	s.t.Helper()
	u, err := s.node.Accounts.ByName(context.Background(), username)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.approvedToken(client, scope, oauth.Approval{Subject: u.ID, Scopes: strings.Fields(scope), Roles: roles})
}

// approvedToken runs an authorization request for scope that the user
// approves with a, and returns the access token of its code.
func (s *testServer) approvedToken(client, scope string, a oauth.Approval) string {
	s.t.Helper()
	verifier, challenge := pkce()
	req, _ := http.NewRequest("GET", s.url+authorizeURL(s, client, challenge, scope), nil)
	ar, err := s.srv.auth.ParseAuthorize(context.Background(), req)
	if err != nil {
		s.t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.srv.auth.Approve(rec, req, ar, a)
	cb, _ := url.Parse(rec.Header().Get("Location"))
	_, tr := s.codeExchange(client, cb.Query().Get("code"), verifier)
	tok, _ := tr["access_token"].(string)
	if tok == "" {
		s.t.Fatalf("token: %v (%s)", tr, rec.Header().Get("Location"))
	}
	return tok
}

// Disabling an account or resetting its password ends what it was issued:
// refresh tokens, access tokens, sign-in sessions. A password reset asks
// for the second factor before the new password (a stolen one-time
// password alone changes nothing). Tokens refreshed after a signing-key
// rotation verify.
func TestRevocationOfAnAccount(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	pid := s.create(patient("Revokefamily"))["id"].(string)
	s.create(careTeam(pid, "nr1"))
	u, otp, _ := s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.r", Roles: []string{"nurse"}, Practitioner: "nr1"})
	app, _, _ := oauth.Register(ctx, s.node.DB, oauth.ClientSpec{Name: "Ward App", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/*.rs offline_access"}}, time.Now())
	verifier, challenge := pkce()
	b := s.browser()
	secret, next := b.signIn(authorizeURL(s, app.ID, challenge, "user/Patient.rs offline_access"), "nurse.r", otp, "the nurse's passphrase")
	b.do("GET", next, nil)
	st, loc := b.do("POST", next, url.Values{"csrf": {b.csrf()}, "decision": {"allow"}, "grant": {"user/Patient.rs", "offline_access"}})
	cb, _ := url.Parse(b.expectRedirect(st, loc, "https://app.example/cb?"))
	_, tr := s.codeExchange(app.ID, cb.Query().Get("code"), verifier)
	at, rt := tr["access_token"].(string), tr["refresh_token"].(string)
	s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at), 200)

	// A rotation of the signing key: the refreshed token verifies.
	if err := s.srv.auth.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	st, tr = s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ID}})
	if st != 200 {
		t.Fatalf("refresh after rotation: %d %v", st, tr)
	}
	at, rt = tr["access_token"].(string), tr["refresh_token"].(string)
	s.expect(s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at), 200)

	// The password is reset (by an administrator, from the command line).
	var otp2 string
	if _, err := s.node.Engine.Administer(localCtx(), "user-administration", func() (int, error) {
		var err error
		if otp2, err = s.node.Accounts.ResetPassword(ctx, u, nil); err != nil {
			return 0, err
		}
		return 1, s.srv.auth.RevokeSubject(ctx, u.ID)
	}); err != nil {
		t.Fatal(err)
	}
	if got := s.do("GET", "/Patient/"+pid, nil, "Authorization", "Bearer "+at).status; got != 401 {
		t.Errorf("access token after a password reset: %d", got)
	}
	if _, tr := s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ID}}); tr["error"] != "invalid_grant" {
		t.Errorf("refresh token after a password reset: %v", tr)
	}
	_, c2 := pkce()
	if st, loc := b.do("GET", authorizeURL(s, app.ID, c2, "user/Patient.rs"), nil); st != http.StatusForbidden && !strings.HasPrefix(loc, "/signin") {
		t.Errorf("the signed-in session after a password reset: %d %s", st, loc)
	}
	// Signing in with the new one-time password asks for the second
	// factor first; the password page refuses before it.
	b2 := s.browser()
	b2.do("GET", "/signin", nil)
	st, loc = b2.do("POST", "/signin", url.Values{"csrf": {b2.csrf()}, "username": {"nurse.r"}, "password": {otp2}})
	b2.expectRedirect(st, loc, "/signin/mfa")
	b2.do("GET", "/signin/mfa", nil)
	csrf := b2.csrf()
	if st, _ := b2.do("POST", "/signin/password", url.Values{"csrf": {csrf}, "current": {otp2}, "new": {"an attacker's passphrase"}, "confirm": {"an attacker's passphrase"}}); st != http.StatusForbidden {
		t.Fatalf("password change before the second factor: %d", st)
	}
	code, _ := auth.TOTPCode(secret, time.Now().Add(30*time.Second))
	st, loc = b2.do("POST", "/signin/mfa", url.Values{"csrf": {csrf}, "code": {code}})
	b2.expectRedirect(st, loc, "/signin/password")

	// Disabled: the new sign-in's session ends at its next step.
	if err := s.node.Accounts.SetDisabled(ctx, u, true, nil); err != nil {
		t.Fatal(err)
	}
	if st, loc := b2.do("GET", "/signin/password", nil); st != http.StatusSeeOther || loc != "/signin" {
		t.Errorf("a disabled account's session: %d %s", st, loc)
	}
}

// The passkey calls need the session's CSRF token (a header), and a
// password alone cannot add a passkey to an account that has a second
// factor.
func TestPasskeyCallsAreGuarded(t *testing.T) {
	s := newTestServer(t)
	_, otp, _ := s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.pk", Roles: []string{"nurse"}})
	b := s.browser()
	b.do("GET", "/signin", nil)
	st, loc := b.do("POST", "/signin", url.Values{"csrf": {b.csrf()}, "username": {"nurse.pk"}, "password": {otp}})
	b.expectRedirect(st, loc, "/signin/password")
	call := func(path, csrf string) int {
		req, _ := http.NewRequest("POST", s.url+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	b.do("GET", "/signin/password", nil)
	csrf := b.csrf()
	// WebAuthn needs a host name, not an address, as relying party.
	s.srv.auth.SetIssuer(strings.Replace(s.url, "127.0.0.1", "localhost", 1))
	if st := call("/signin/passkey/register/begin", ""); st != http.StatusForbidden {
		t.Fatalf("without the CSRF header: %d", st)
	}
	if st := call("/signin/passkey/register/begin", "wrong"); st != http.StatusForbidden {
		t.Fatalf("with a wrong CSRF header: %d", st)
	}
	if st := call("/signin/passkey/register/begin", csrf); st != http.StatusOK {
		t.Fatalf("during enrolment: %d", st)
	}
	if st := call("/signin/passkey/login/begin", csrf); st != http.StatusBadRequest {
		t.Fatalf("login with no passkey registered: %d", st)
	}
	if st := call("/signin/passkey/register/finish", csrf); st != http.StatusBadRequest {
		t.Fatalf("a finish without a credential: %d", st)
	}
	// An account with TOTP, the password checked, the code not yet given.
	u, _ := s.node.Accounts.ByName(context.Background(), "nurse.pk")
	secret, _, _ := s.node.Accounts.BeginTOTP(context.Background(), u, "Hestia")
	code, _ := auth.TOTPCode(secret, time.Now())
	if _, err := s.node.Accounts.ConfirmTOTP(context.Background(), u, code, "203.0.113.1", nil); err != nil {
		t.Fatal(err)
	}
	if st := call("/signin/passkey/register/begin", csrf); st != http.StatusForbidden {
		t.Fatalf("adding a passkey with the password alone: %d", st)
	}
	// Nor can the enrolment page add (or show) a factor.
	if st, _ := b.do("POST", "/signin/enrol", url.Values{"csrf": {csrf}, "code": {"000000"}}); st != http.StatusForbidden {
		t.Fatalf("enrolment posted with the password alone: %d", st)
	}
	st, loc = b.do("GET", "/signin/enrol", nil)
	if st != http.StatusSeeOther || strings.Contains(b.last, `id="secret"`) {
		t.Fatalf("the enrolment page with the password alone: %d %s", st, loc)
	}
}

// Two sign-ins racing on one session cannot mix: the first takes a fresh
// session for its account, the second finds the shared one gone.
func TestConcurrentSignInsOnOneSession(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Racefamily"))["id"].(string)
	s.node.AddUser(localCtx(), auth.NewUser{Username: "pat.race", Roles: []string{"patient"}, Patient: pid, Password: "the patient's passphrase"})
	s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.race", Roles: []string{"nurse"}, Password: "the nurse's passphrase"})
	for range 10 {
		b := s.browser()
		b.do("GET", "/signin", nil)
		csrf := b.csrf()
		codes := make(chan int, 2)
		for _, c := range [][2]string{{"pat.race", "the patient's passphrase"}, {"nurse.race", "the nurse's passphrase"}} {
			go func() {
				req, _ := http.NewRequest("POST", s.url+"/signin", strings.NewReader(url.Values{"csrf": {csrf}, "username": {c[0]}, "password": {c[1]}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := b.c.Do(req)
				if err != nil {
					codes <- 0
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		a, c := <-codes, <-codes
		if a == http.StatusSeeOther && c == http.StatusSeeOther {
			t.Fatal("both sign-ins went on with one session")
		}
	}
}

// A refresh is refused when the account was disabled (or its password
// reset) after the grant, even if its grants were not revoked (NotBefore
// against the grant's auth_time).
func TestRefreshRespectsNotBefore(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	u, otp, _ := s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.nb", Roles: []string{"nurse"}})
	app, _, _ := oauth.Register(ctx, s.node.DB, oauth.ClientSpec{Name: "App", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/*.rs offline_access"}}, time.Now())
	verifier, challenge := pkce()
	b := s.browser()
	_, next := b.signIn(authorizeURL(s, app.ID, challenge, "user/Patient.rs offline_access"), "nurse.nb", otp, "the nurse's passphrase")
	b.do("GET", next, nil)
	st, loc := b.do("POST", next, url.Values{"csrf": {b.csrf()}, "decision": {"allow"}, "grant": {"user/Patient.rs", "offline_access"}})
	cb, _ := url.Parse(b.expectRedirect(st, loc, "https://app.example/cb?"))
	_, tr := s.codeExchange(app.ID, cb.Query().Get("code"), verifier)
	rt, _ := tr["refresh_token"].(string)
	time.Sleep(1100 * time.Millisecond) // NotBefore is compared in whole seconds
	if err := s.node.Accounts.SetDisabled(ctx, u, true, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.node.Accounts.SetDisabled(ctx, u, false, nil); err != nil {
		t.Fatal(err)
	}
	if st, tr := s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {app.ID}}); tr["error"] != "invalid_grant" {
		t.Fatalf("refresh of a grant from before the account was disabled: %d %v", st, tr)
	}
}

// A patient (MFA not required) may still enrol a second factor.
func TestPatientMayEnrol(t *testing.T) {
	s := newTestServer(t)
	pid := s.create(patient("Enrolfamily"))["id"].(string)
	s.node.AddUser(localCtx(), auth.NewUser{Username: "pat.enrol", Roles: []string{"patient"}, Patient: pid, Password: "the patient's passphrase"})
	b := s.browser()
	b.do("GET", "/signin", nil)
	st, loc := b.do("POST", "/signin", url.Values{"csrf": {b.csrf()}, "username": {"pat.enrol"}, "password": {"the patient's passphrase"}})
	b.expectRedirect(st, loc, "/signin/done")
	if st, _ := b.do("GET", "/signin/enrol", nil); st != 200 || !strings.Contains(b.last, `id="secret"`) {
		t.Fatalf("a patient's enrolment page: %d", st)
	}
}

// A user's own changes at sign-in are in the audit log with the change:
// the password change and the MFA enrolment.
func TestSelfServiceChangesAreRecorded(t *testing.T) {
	s := newTestServer(t)
	u, otp, _ := s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.rec", Roles: []string{"nurse"}})
	b := s.browser()
	b.do("GET", "/signin", nil)
	st, loc := b.do("POST", "/signin", url.Values{"csrf": {b.csrf()}, "username": {"nurse.rec"}, "password": {otp}})
	b.expectRedirect(st, loc, "/signin/password")
	b.do("GET", "/signin/password", nil)
	st, loc = b.do("POST", "/signin/password", url.Values{"csrf": {b.csrf()}, "current": {otp}, "new": {"the recorded passphrase"}, "confirm": {"the recorded passphrase"}})
	b.expectRedirect(st, loc, "/signin/enrol")
	b.do("GET", "/signin/enrol", nil)
	secret := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(b.last)[1]
	code, _ := auth.TOTPCode(secret, time.Now())
	st, loc = b.do("POST", "/signin/enrol", url.Values{"csrf": {b.csrf()}, "code": {code}})
	b.expectRedirect(st, loc, "/signin/recovery")
	var got []string
	for deadline := time.Now().Add(5 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		head, _ := s.node.DB.AuditHead()
		got = nil
		for _, ev := range s.auditEvents(head) {
			if st := subtype(ev); (st == "password-change" || st == "mfa-enrolment") && ev["outcome"] == "0" {
				who := ev["agent"].([]any)[0].(map[string]any)["who"].(map[string]any)["identifier"].(map[string]any)["value"]
				if who == u.ID {
					got = append(got, st+":"+detail(ev, "detail"))
				}
			}
		}
	}
	if fmt.Sprint(got) != "[password-change:password changed mfa-enrolment:authenticator app]" {
		t.Fatalf("self-service events %v", got)
	}
}

// Signing in with a recovery code as the second factor writes a
// recovery-code event for the account (besides the login), once per code:
// a spent code does not sign in again, and records no second use.
func TestRecoveryCodeSignInIsRecorded(t *testing.T) {
	s := newTestServer(t)
	u, otp, err := s.node.AddUser(localCtx(), auth.NewUser{Username: "nurse.rc", Roles: []string{"nurse"}})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := oauth.Register(context.Background(), s.node.DB, oauth.ClientSpec{Name: "Ward app", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/Patient.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, challenge := pkce()
	b := s.browser()
	b.signIn(authorizeURL(s, app.ID, challenge, "user/Patient.rs"), "nurse.rc", otp, "a long nurse passphrase")
	code := b.recovery[3]
	ofAccount := func(ev map[string]any) bool {
		agents, _ := json.Marshal(ev["agent"])
		return strings.Contains(string(agents), u.ID)
	}
	recovery := func(ev map[string]any) bool { return subtype(ev) == string(access.RecoveryCode) }
	failedLogin := func(ev map[string]any) bool { return subtype(ev) == "110122" && ev["outcome"] != "0" && ofAccount(ev) }
	signInWith := func(code string) (int, string) {
		b := s.browser()
		b.do("GET", "/signin", nil)
		st, loc := b.do("POST", "/signin", url.Values{"csrf": {b.csrf()}, "username": {"nurse.rc"}, "password": {"a long nurse passphrase"}})
		b.expectRedirect(st, loc, "/signin/mfa")
		b.do("GET", "/signin/mfa", nil)
		return b.do("POST", "/signin/mfa", url.Values{"csrf": {b.csrf()}, "code": {code}})
	}
	if st, loc := signInWith(code); st != http.StatusSeeOther || loc != "/signin/done" {
		t.Fatalf("sign-in with a recovery code: %d %s", st, loc)
	}
	if n := s.awaitEvents(1, recovery); n != 1 {
		t.Fatalf("%d recovery-code events after one use, want 1", n)
	}
	if n := s.awaitEvents(1, func(ev map[string]any) bool { return recovery(ev) && ofAccount(ev) && ev["outcome"] == "0" }); n != 1 {
		t.Fatal("the recovery-code event does not name the account with a success")
	}
	if st, _ := signInWith(code); st != http.StatusUnauthorized {
		t.Fatalf("a spent recovery code: %d, want 401", st)
	}
	// The refusal's failed login is in the log: so would be a second use.
	if n := s.awaitEvents(1, failedLogin); n != 1 {
		t.Fatalf("%d failed logins after the spent code, want 1", n)
	}
	if n := s.awaitEvents(1, recovery); n != 1 {
		t.Fatalf("%d recovery-code events after a spent code was refused, want 1", n)
	}
}
