package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerOnAWSKMS runs the server with its KEK in AWS KMS (local-kms on
// loopback, started by .ci/local-kms.sh): data written survives a restart,
// the data keys re-wrap under the KMS key, and the same data directory
// with another KMS key does not open.
func TestServerOnAWSKMS(t *testing.T) {
	endpoint, uri := os.Getenv("HESTIA_TEST_AWSKMS_ENDPOINT"), os.Getenv("HESTIA_TEST_AWSKMS_KEY_URI")
	if endpoint == "" || uri == "" {
		msg := "HESTIA_TEST_AWSKMS_ENDPOINT and HESTIA_TEST_AWSKMS_KEY_URI are unset: start local-kms with `. .ci/local-kms.sh`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must run the AWS KMS tests)")
		}
		t.Skip(msg)
	}
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_KMS": "",
	} {
		t.Setenv(k, v)
	}
	cfg := testConfig(t)
	cfg.KMS, cfg.KMSEndpoint = uri, endpoint
	s := openAt(t, cfg)
	p := s.create(patient("Awskms", "Kay"))
	id := p["id"].(string)
	if n, err := s.node.Keys.Rewrap(context.Background(), nil); err != nil || n < 2 {
		t.Fatalf("re-wrapped %d keys: %v", n, err)
	}
	closeAt(s)
	// No local KMS was set up beside it.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "keys", "kek.json")); !os.IsNotExist(err) {
		t.Fatalf("a local KEK file exists with AWS KMS configured: %v", err)
	}

	s = openAt(t, cfg)
	b := s.expect(s.do("GET", "/Patient/"+id, nil), http.StatusOK)
	if name := b["name"].([]any)[0].(map[string]any)["family"]; name != "Awskms" {
		t.Fatalf("read back %v", name)
	}
	closeAt(s)

	// The local KMS cannot open what AWS KMS wrapped.
	local := cfg
	local.KMS, local.KMSEndpoint = "local", ""
	if _, err := OpenNode(context.Background(), local, s.node.Log); err == nil {
		t.Fatal("the data directory opened under another KEK")
	} else if strings.Contains(err.Error(), "Awskms") {
		t.Fatalf("error leaks data: %v", err)
	}
}
