package server

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
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

// TestBrowserSMARTLaunch runs e2e/smart.mjs: openid-client (npm) and
// headless Chromium complete a SMART standalone launch against this
// server — sign-in with a one-time password, password change, MFA
// enrolment, the authorization screen with the patient picker — and read
// the patient with the token. CI installs Chromium and the npm packages
// (.ci/run); elsewhere the test is skipped when they are missing.
func TestBrowserSMARTLaunch(t *testing.T) {
	e2e, _ := filepath.Abs(filepath.Join("..", "..", "e2e"))
	browser := chromium()
	_, npmErr := os.Stat(filepath.Join(e2e, "node_modules", "openid-client"))
	node, nodeErr := execpkg.LookPath("node")
	if browser == "" || npmErr != nil || nodeErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the browser test: chromium %q, e2e/node_modules %v, node %v", browser, npmErr, nodeErr)
		}
		t.Skip("needs Debian's chromium, node and `npm ci` in e2e/ (the CI script installs them)")
	}
	s := newTestServer(t)
	pid := s.create(patient("Browserfamily"))["id"].(string)
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
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := execpkg.CommandContext(rctx, node, "smart.mjs")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca, "HESTIA_URL="+s.url, "HESTIA_CLIENT_ID="+app.ID,
		"HESTIA_USER=dr.chromium", "HESTIA_PASSWORD="+otp, "HESTIA_NEW_PASSWORD=a browser-typed passphrase",
		"HESTIA_PATIENT="+pid, "CHROMIUM="+browser)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("smart.mjs: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var got struct {
		App, Patient, Scope, ID, FHIRUser string
		Refresh                           bool
		Status                            int
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &got); err != nil {
		t.Fatalf("smart.mjs printed %q: %v", stdout.String(), err)
	}
	if got.App != "Browser App" || got.Patient != pid || got.Status != 200 || got.ID != pid || !got.Refresh ||
		got.FHIRUser != s.url+"/Practitioner/pr-9" ||
		!strings.Contains(got.Scope, "user/Patient.rs") {
		t.Fatalf("launch result %+v", got)
	}
}
