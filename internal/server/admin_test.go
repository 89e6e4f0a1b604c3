package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// userToken signs a new account in through the browser pages (one-time
// password, password change, MFA enrolment) and returns an access token
// for the app with the scopes granted.
func (s *testServer) userToken(username, otp, app, scope string) string {
	s.t.Helper()
	verifier, challenge := pkce()
	start := authorizeURL(s, app, challenge, scope)
	b := s.browser()
	_, next := b.signIn(start, username, otp, "a fresh passphrase for "+strings.ToUpper(username[:2]))
	b.do("GET", next, nil)
	st, loc := b.do("POST", next, url.Values{"csrf": {b.csrf()}, "decision": {"allow"}, "grant": strings.Fields(scope)})
	cb, _ := url.Parse(b.expectRedirect(st, loc, "https://app.example/cb?"))
	st, tr := s.codeExchange(app, cb.Query().Get("code"), verifier)
	tok, _ := tr["access_token"].(string)
	if st != 200 || tok == "" {
		s.t.Fatalf("code exchange: %d %v", st, tr)
	}
	return tok
}

// The admin API: an administrator's token with the admin scope creates,
// lists, resets, disables and enables accounts; nobody else can (not a
// clinician with the scope, not a service with every system scope), and
// each call is audited.
func TestAdminAPI(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	admin, adminOTP, err := s.node.Init(ctx, "root-admin")
	if err != nil || admin == nil {
		t.Fatalf("init: %v", err)
	}
	_, docOTP, _ := s.node.AddUser(localCtx(), auth.NewUser{Username: "dr.admin-wannabe", Roles: []string{"clinician"}})
	console, _, err := oauth.Register(ctx, s.node.DB, oauth.ClientSpec{Name: "Admin Console", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"hestia.admin"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	adminTok := s.userToken("root-admin", adminOTP, console.ID, "hestia.admin")
	docTok := s.userToken("dr.admin-wannabe", docOTP, console.ID, "hestia.admin")
	bearer := func(tok string) []string {
		return []string{"Authorization", "Bearer " + tok, "Content-Type", "application/json"}
	}

	r := s.do("POST", "/admin/users", `{"username":"nurse.new","roles":["nurse"]}`, bearer(adminTok)...)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.json(t)
	otp, id := created["one_time_password"].(string), created["id"].(string)
	if len(otp) != 16 || id == "" {
		t.Fatalf("create answered %v", created)
	}
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"username":"nurse.new","roles":["nurse"]}`, http.StatusConflict},
		{`{"username":"x","roles":["superuser"]}`, http.StatusBadRequest},
		{`{"username":"x","roles":["nurse"],"password":"smuggled in"}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
	} {
		if r := s.do("POST", "/admin/users", c.body, bearer(adminTok)...); r.status != c.status {
			t.Errorf("create %s: %d, want %d (%s)", c.body, r.status, c.status, r.body)
		}
	}
	r = s.do("GET", "/admin/users", nil, bearer(adminTok)...)
	if r.status != 200 || !strings.Contains(string(r.body), `"username":"nurse.new"`) || strings.Contains(string(r.body), "argon2id") {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/admin/users/"+id+"/reset-password", nil, bearer(adminTok)...); r.status != 200 || r.json(t)["one_time_password"] == otp {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/admin/users/no-such-id/disable", nil, bearer(adminTok)...); r.status != 404 {
		t.Fatalf("disable an unknown account: %d", r.status)
	}
	if r := s.do("POST", "/admin/users/"+id+"/disable", nil, bearer(adminTok)...); r.status != 204 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	u, _ := s.node.Accounts.Get(ctx, id)
	if !u.Disabled {
		t.Fatal("the account is not disabled")
	}
	if r := s.do("POST", "/admin/users/"+id+"/enable", nil, bearer(adminTok)...); r.status != 204 {
		t.Fatalf("enable: %d", r.status)
	}

	// Nobody else: a clinician with the scope, a service with every
	// system scope, no token.
	for name, tok := range map[string]string{"clinician": docTok, "service": s.token} {
		if r := s.do("GET", "/admin/users", nil, bearer(tok)...); r.status != 403 || strings.Contains(string(r.body), "nurse.new") {
			t.Errorf("%s lists accounts: %d %s", name, r.status, r.body)
		}
		if r := s.do("POST", "/admin/users", `{"username":"sneaky","roles":["admin"]}`, bearer(tok)...); r.status != 403 {
			t.Errorf("%s creates an account: %d", name, r.status)
		}
	}
	if r := s.do("GET", "/admin/users", nil, "Authorization", ""); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	if _, err := s.node.Accounts.ByName(ctx, "sneaky"); err == nil {
		t.Fatal("a refused create stored the account")
	}
	// Audited: the administrator's calls and the refusals.
	var done, refused int
	for deadline := time.Now().Add(5 * time.Second); refused < 4 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		head, _ := s.node.DB.AuditHead()
		done, refused = 0, 0
		for _, ev := range s.auditEvents(head) {
			if subtype(ev) != "user-administration" {
				continue
			}
			if ev["outcome"] == "0" {
				done++
			} else if ev["outcome"] == "4" {
				refused++
			}
		}
	}
	if refused != 4 || done < 6 {
		t.Fatalf("user-administration events: %d done, %d refused", done, refused)
	}
}
