package server

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// Staff sign in through an external OpenID Connect provider — here
// another Hestia, which is one — and get a local account with the role
// the configuration maps theirs to; a provider user whose roles map to
// nothing is refused, and the local account cannot sign in with a
// password.
func TestExternalSignIn(t *testing.T) {
	idp := newTestServer(t)
	ctx := context.Background()
	_, nurseOTP, _ := idp.node.AddUser(localCtx(), auth.NewUser{Username: "idp.nurse", Roles: []string{"nurse"}})
	_, clerkOTP, _ := idp.node.AddUser(localCtx(), auth.NewUser{Username: "idp.clerk", Roles: []string{"billing"}})

	// The relying Hestia: its address first, to register it at the provider.
	hs := httptest.NewUnstartedServer(nil)
	rpURL := "https://" + hs.Listener.Addr().String()
	reg, secret, err := oauth.Register(ctx, idp.node.DB, oauth.ClientSpec{Name: "Ward Hestia", Kind: oauth.Confidential,
		RedirectURIs: []string{rpURL + "/signin/external/callback"}, Scopes: []string{"openid"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "idp.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.cert}), 0o600)
	cfg := testConfig(t)
	cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret = idp.url, reg.ID, secret
	cfg.OIDCName, cfg.OIDCRoles, cfg.OIDCTrustMFA, cfg.OIDCCAFile = "Hospital ID", "nurse=nurse,physician=clinician", true, ca
	node, err := OpenNode(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.StartTLS()
	srv.auth.SetIssuer(rpURL)
	t.Cleanup(func() { hs.Close(); node.Close() })
	rp := &testServer{t: t, url: rpURL, c: hs.Client(), node: node, srv: srv}

	// One browser: cookies are kept per site, as a browser does.
	signIn := func(username, otp string) (int, string, *browser) {
		bRP, bIdP := rp.browser(), idp.browser()
		bRP.do("GET", "/signin", nil)
		if !strings.Contains(bRP.last, "Sign in with Hospital ID") {
			t.Fatalf("no external sign-in on the page:\n%s", bRP.last)
		}
		st, loc := bRP.do("GET", "/signin/external", nil)
		authz := bRP.expectRedirect(st, loc, idp.url+oauth.AuthorizePath)
		_, next := bIdP.signIn(strings.TrimPrefix(authz, idp.url), username, otp, "a passphrase at the provider")
		bIdP.do("GET", next, nil)
		st, loc = bIdP.do("POST", next, url.Values{"csrf": {bIdP.csrf()}, "decision": {"allow"}, "grant": {"openid"}})
		cb := bIdP.expectRedirect(st, loc, rpURL+"/signin/external/callback?")
		st, loc = bRP.do("GET", cb, nil)
		return st, loc, bRP
	}
	st, loc, b := signIn("idp.nurse", nurseOTP)
	b.expectRedirect(st, loc, "/signin/done")
	users, _ := node.Accounts.List(ctx)
	if len(users) != 1 || !strings.HasPrefix(users[0].Username, "ext:") || strings.Join(users[0].Roles, ",") != "nurse" || users[0].ExternalIssuer != idp.url {
		t.Fatalf("local accounts after the external sign-in: %+v", users)
	}
	// The local account has no usable password.
	b2 := rp.browser()
	b2.do("GET", "/signin", nil)
	if st, _ := b2.do("POST", "/signin", url.Values{"csrf": {b2.csrf()}, "username": {users[0].Username}, "password": {"a passphrase at the provider"}}); st != http.StatusUnauthorized {
		t.Fatalf("password sign-in of an external account: %d", st)
	}
	// A billing clerk at the provider maps to no role here.
	st, _, b = signIn("idp.clerk", clerkOTP)
	if st != http.StatusForbidden || !strings.Contains(b.last, "no role here") {
		t.Fatalf("a provider user without a mapped role: %d\n%s", st, b.last)
	}
	if users, _ := node.Accounts.List(ctx); len(users) != 1 {
		t.Fatalf("an account was created for the refused user: %d accounts", len(users))
	}
	// A callback that did not start here is refused.
	b3 := rp.browser()
	if st, _ := b3.do("GET", "/signin/external/callback?code=x&state=y", nil); st != http.StatusBadRequest {
		t.Fatalf("a stray callback: %d", st)
	}
}
