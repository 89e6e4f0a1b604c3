package server

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	execpkg "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// chromium finds the browser: $CHROMIUM, or Debian's.
func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// browserTools finds Chromium, Node.js and the npm packages of e2e/, or
// skips the test (fails it under CI=true).
func browserTools(t *testing.T) (e2e, browser, node string) {
	t.Helper()
	e2e, _ = filepath.Abs(filepath.Join("..", "..", "e2e"))
	browser = chromium()
	_, npmErr := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core"))
	node, nodeErr := execpkg.LookPath("node")
	if browser == "" || npmErr != nil || nodeErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the browser tests: chromium %q, e2e/node_modules %v, node %v", browser, npmErr, nodeErr)
		}
		t.Skip("needs Debian's chromium, node and `npm ci` in e2e/ (the CI script installs them)")
	}
	return e2e, browser, node
}

// runNode runs an e2e script with env and returns its standard output.
func runNode(t *testing.T, node, dir, script string, env ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := execpkg.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s\n%s", script, err, stdout.String(), stderr.String())
	}
	return bytes.TrimSpace(stdout.Bytes())
}

// TestBrowserSMARTLaunch runs e2e/smart.mjs: openid-client (npm) and
// headless Chromium complete a SMART standalone launch against this
// server — sign-in with a one-time password, password change, MFA
// enrolment, the authorization screen with the patient picker — and read
// the patient with the token. CI installs Chromium and the npm packages
// (.ci/run); elsewhere the test is skipped when they are missing.
func TestBrowserSMARTLaunch(t *testing.T) {
	e2e, browser, node := browserTools(t)
	s := newTestServer(t)
	pid := s.create(patient("Browserfamily"))["id"].(string)
	s.create(careTeam(pid, "pr-9"))
	ctx := context.Background()
	_, otp, err := s.node.AddUser(localCtx(), auth.NewUser{Username: "dr.chromium", Roles: []string{"clinician"}, Practitioner: "pr-9"})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := oauth.Register(ctx, s.node.DB, oauth.ClientSpec{Name: "Browser App", Kind: oauth.Public,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: []string{"user/*.rs launch/patient offline_access openid fhirUser"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runNode(t, node, e2e, "smart.mjs", "NODE_EXTRA_CA_CERTS="+ca, "HESTIA_URL="+s.url, "HESTIA_CLIENT_ID="+app.ID,
		"HESTIA_USER=dr.chromium", "HESTIA_PASSWORD="+otp, "HESTIA_NEW_PASSWORD=a browser-typed passphrase",
		"HESTIA_PATIENT="+pid, "CHROMIUM="+browser)
	var got struct {
		App, Patient, Scope, ID, FHIRUser string
		Refresh                           bool
		Status                            int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("smart.mjs printed %q: %v", out, err)
	}
	if got.App != "Browser App" || got.Patient != pid || got.Status != 200 || got.ID != pid || !got.Refresh ||
		got.FHIRUser != s.url+"/Practitioner/pr-9" ||
		!strings.Contains(got.Scope, "user/Patient.rs") {
		t.Fatalf("launch result %+v", got)
	}
}

// TestBrowserPasskey runs e2e/passkey.mjs: Chromium with a virtual
// authenticator registers a passkey at MFA enrolment and signs in with it;
// the account then holds one passkey whose signature counter moved.
func TestBrowserPasskey(t *testing.T) {
	e2e, browser, node := browserTools(t)
	cfg := testConfig(t)
	cfg.InsecureHTTP = true // WebAuthn needs a secure context: http://localhost is one
	n, err := OpenNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); n.Close() })
	base := strings.Replace(hs.URL, "127.0.0.1", "localhost", 1)
	srv.auth.SetIssuer(base)
	u, otp, err := n.AddUser(localCtx(), auth.NewUser{Username: "dr.passkey", Roles: []string{"clinician"}})
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, node, e2e, "passkey.mjs", "HESTIA_URL="+base, "HESTIA_USER=dr.passkey", "HESTIA_PASSWORD="+otp,
		"HESTIA_NEW_PASSWORD=a passkey user's passphrase", "CHROMIUM="+browser)
	if string(out) != `{"registered":true,"signedIn":true}` {
		t.Fatalf("passkey.mjs printed %s", out)
	}
	u, _ = n.Accounts.Get(context.Background(), u.ID)
	if len(u.Passkeys) != 1 || u.TOTPSecret != "" || len(u.Recovery) != auth.RecoveryCodes || u.Passkeys[0].Authenticator.SignCount == 0 {
		t.Fatalf("after the passkey sign-in: %d passkeys, TOTP %v, %d recovery codes", len(u.Passkeys), u.TOTPSecret != "", len(u.Recovery))
	}
}
