package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The configuration file: HESTIA_* settings under the environment;
// unknown names, malformed lines and a file others can read are refused
// without quoting the line (it may hold a secret).
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(text string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, "hestia.conf")
		os.Remove(p)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("HESTIA_LISTEN", "127.0.0.1:9443")
	cfg := Defaults()
	cfg.ConfigFile = write(`# a node of the cluster
HESTIA_STORAGE='postgres://hestia@db.example.org/hestia?sslmode=verify-full'
export HESTIA_STORAGE_CONNS=24
HESTIA_LISTEN=0.0.0.0:8443
HESTIA_SESSION_IDLE="10m"
`, 0o600)
	if err := cfg.FromEnv(); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage != "postgres://hestia@db.example.org/hestia?sslmode=verify-full" || cfg.StorageConns != 24 || cfg.SessionIdle.String() != "10m0s" {
		t.Fatalf("from the file: %q %d %v", cfg.Storage, cfg.StorageConns, cfg.SessionIdle)
	}
	if cfg.Listen != "127.0.0.1:9443" {
		t.Fatalf("the environment should win over the file: listen %q", cfg.Listen)
	}
	for name, c := range map[string]struct {
		text string
		mode os.FileMode
		want string
	}{
		"unknown":       {"HESTIA_STORAGE_CONN=3\n", 0o600, "unknown setting HESTIA_STORAGE_CONN"},
		"malformed":     {"storage postgres://u:secret@h/db\n", 0o600, "line 1: want HESTIA_NAME=value"},
		"twice":         {"HESTIA_KMS=local\nHESTIA_KMS=local\n", 0o600, "set twice"},
		"world":         {"HESTIA_KMS=local\n", 0o644, "chmod 600"},
		"bad value":     {"HESTIA_STORAGE_CONNS=many\n", 0o600, "HESTIA_STORAGE_CONNS"},
		"config itself": {"HESTIA_CONFIG=/etc/other\n", 0o600, "want HESTIA_NAME=value"},
	} {
		cfg := Defaults()
		cfg.ConfigFile = write(c.text, c.mode)
		err := cfg.FromEnv()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error quotes the line: %v", name, err)
		}
	}
}
