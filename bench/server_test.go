package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// -helper-server makes the test binary act as a FHIR server for the
// -server-cmd test: it prints its fingerprint like Hestia does and exits
// cleanly on SIGTERM.
var helperServer = flag.String("helper-server", "", "run the fake FHIR server on this address (tests only)")

func TestMain(m *testing.M) {
	flag.Parse()
	if *helperServer != "" {
		os.Exit(runHelperServer(*helperServer))
	}
	os.Exit(m.Run())
}

func runHelperServer(addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := httptest.NewUnstartedServer(newFakeFHIR())
	srv.Listener.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	srv.Listener = ln
	srv.StartTLS()
	fp := sha256.Sum256(srv.Certificate().Raw)
	fmt.Fprintln(os.Stderr, "level=INFO msg=starting data=/tmp/x")
	fmt.Printf("TLS certificate SHA-256 fingerprint: %s\n", formatFingerprint(fp[:]))
	fmt.Printf("listening on %s\n", srv.URL)
	<-ctx.Done()
	srv.Close()
	return 0
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServerCmdReadsFingerprintSamplesRSSAndStops(t *testing.T) {
	addr := freeAddr(t)
	cfg := fastConfig(t, "https://"+addr, nil)
	cfg.Fingerprint = ""
	cfg.Phases = []string{"ingest"}
	cfg.ServerCmd = shellQuote(os.Args[0]) + " -test.run='^$' -helper-server=" + addr
	cfg.ServerLog = t.TempDir() + "/server.log"

	res, err := run(context.Background(), cfg, "go run ./bench", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.TLS, "certificate pinned by SHA-256") {
		t.Errorf("TLS %q: the fingerprint line was not used", res.TLS)
	}
	if res.Ingest == nil || res.Ingest.Resources != 34 {
		t.Errorf("ingest %+v", res.Ingest)
	}
	if res.RSS == nil || res.RSS.PID == os.Getpid() || res.RSS.PeakKB <= 0 || len(res.RSS.Phases) != 2 {
		t.Fatalf("server memory %+v", res.RSS)
	}
	if len(res.Problems) != 0 {
		t.Errorf("problems %v", res.Problems)
	}
	// Stopped and reaped.
	if err := syscall.Kill(res.RSS.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("server pid %d still exists after the run (kill 0: %v)", res.RSS.PID, err)
	}
	log, _ := os.ReadFile(cfg.ServerLog)
	if !strings.Contains(string(log), "SHA-256 fingerprint") || !strings.Contains(string(log), "msg=starting") {
		t.Errorf("server log lacks the server's stdout and stderr:\n%s", log)
	}
}

func TestServerCmdThatExitsEarlyIsAnError(t *testing.T) {
	cfg := fastConfig(t, "https://"+freeAddr(t), nil)
	cfg.Fingerprint = ""
	cfg.ServerCmd = "echo no fingerprint here"
	_, err := run(context.Background(), cfg, "go run ./bench", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "exited before printing its SHA-256 fingerprint") {
		t.Fatalf("err = %v", err)
	}
}
