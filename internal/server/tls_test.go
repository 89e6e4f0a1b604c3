package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// startServe runs Serve on a free loopback port and returns its address.
func startServe(t *testing.T, cfg Config) (string, *Server) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := OpenNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, func(a net.Addr) { addr <- a.String() }) }()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			node.Close()
		})
		return a, srv
	case err := <-done:
		cancel()
		node.Close()
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	return "", nil
}

func TestServeTLSFromTheFirstStart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	addr, srv := startServe(t, cfg)

	st, err := os.Stat(filepath.Join(cfg.DataDir, "tls", "key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("TLS key: %v %v", st.Mode(), err)
	}
	// TLS 1.2 with a forward-secret AEAD suite works, and the certificate
	// is the one whose fingerprint was printed.
	var seen string
	conn, err := tls.Dial("tcp", addr, &tls.Config{
		InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			seen = crypt.Fingerprint(cs.PeerCertificates[0].Raw)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	conn.Close()
	if seen != srv.Fingerprint() || len(seen) != 95 {
		t.Fatalf("fingerprint %q, printed %q", seen, srv.Fingerprint())
	}
	// TLS 1.1 and CBC suites are refused.
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 accepted")
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
		c.Close()
		t.Fatal("a CBC suite was accepted")
	}
	// Plain HTTP to the TLS port gets no FHIR answer.
	resp, err := http.Get("http://" + addr + "/metadata")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "CapabilityStatement") {
			t.Fatal("plain HTTP served the API")
		}
	}
	// A second start reuses the certificate.
	cfg2 := cfg
	cfg2.Listen = "127.0.0.1:0"
	_, srv2 := startServe(t, cfg2)
	if srv2.Fingerprint() != srv.Fingerprint() {
		t.Fatal("the certificate changed on restart")
	}
}

func TestServeInsecureHTTPOnLoopback(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.InsecureHTTP = true
	addr, _ := startServe(t, cfg)
	resp, err := http.Get("http://" + addr + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("status %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.InsecureHTTP = true; c.Listen = "0.0.0.0:8080" },
		func(c *Config) { c.InsecureHTTP = true; c.Listen = "10.1.2.3:8080" },
		func(c *Config) { c.TLSCert = "x.pem" },
		func(c *Config) { c.Listen = "nonsense" },
		func(c *Config) { c.MaxBody = 10 },
		func(c *Config) { c.Synchronous = "OFF" },
		func(c *Config) { c.PprofListen = "0.0.0.0:6060" },
		func(c *Config) { c.BaseURL = "ftp://x" },
		func(c *Config) { c.DataDir = "" },
	}
	for i, f := range bad {
		c := Defaults()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("case %d accepted: %+v", i, c)
		}
	}
	ok := Defaults()
	ok.InsecureHTTP = true
	ok.Listen = "[::1]:8080"
	if err := ok.Validate(); err != nil {
		t.Errorf("loopback insecure HTTP refused: %v", err)
	}
}

func TestRefusesGroupReadableTLSKey(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	startServe(t, cfg) // creates the certificate
	if err := os.Chmod(filepath.Join(cfg.DataDir, "tls", "key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := OpenNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if _, err := New(cfg, node); err == nil || !strings.Contains(err.Error(), "readable by other users") {
		t.Fatalf("error %v", err)
	}
}

func TestDataDirectoryIsPrivate(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.DataDir = open
	cfg.KeyDir = filepath.Join(t.TempDir(), "keys")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := OpenNode(context.Background(), cfg, log); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("a group-readable data directory was accepted: %v", err)
	}
	cfg.DataDir = filepath.Join(t.TempDir(), "fresh")
	node, err := OpenNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	for _, name := range []string{"", DatabaseFile, DatabaseFile + "-wal"} {
		st, err := os.Stat(filepath.Join(cfg.DataDir, name))
		if err != nil {
			continue // the WAL may not exist yet
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %v", name, st.Mode().Perm())
		}
	}
}

func TestHostAndPathChecks(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.InsecureHTTP = true
	addr, _ := startServe(t, cfg)
	get := func(host, path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if host != "" {
			req.Host = host
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("attacker.example", "/metadata"); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("a foreign Host was served: %d", resp.StatusCode)
	}
	if resp, _ := get("localhost:1234", "/metadata"); resp.StatusCode != http.StatusOK {
		t.Fatalf("localhost refused: %d", resp.StatusCode)
	}
	resp, body := get("", "//Patient?family=Secret")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Secret") || resp.Header.Get("Location") != "" {
		t.Fatalf("unclean path: %d %q %q", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestTooManyRequestsAreRefusedAtOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.InsecureHTTP = true
	cfg.MaxInFlight = 1
	addr, _ := startServe(t, cfg)
	// A request whose body never ends holds the only slot (the token
	// endpoint reads its form before anything else).
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		req, _ := http.NewRequest("POST", "http://"+addr+"/oauth2/token", pr)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write([]byte(`grant_type=client_credentials&scope=`))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metadata")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no 429 while the only slot was taken")
}
