package main

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startFake serves f over TLS and returns the server, its base URL and the
// SHA-256 of its certificate.
func startFake(t *testing.T, f *fakeFHIR) (*httptest.Server, *url.URL, []byte) {
	t.Helper()
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	fp := sha256.Sum256(srv.Certificate().Raw)
	return srv, base, fp[:]
}

func TestFingerprintPinAcceptsTheServerCertificate(t *testing.T) {
	_, base, fp := startFake(t, newFakeFHIR())
	for _, form := range []string{
		formatFingerprint(fp),                              // AB:CD:…
		strings.ToLower(formatFingerprint(fp)),             // ab:cd:…
		strings.ReplaceAll(formatFingerprint(fp), ":", ""), // ABCD…
	} {
		pin, err := parseFingerprint(form)
		if err != nil {
			t.Fatalf("parseFingerprint(%q): %v", form, err)
		}
		cl, err := newClient(trust{Fingerprint: pin}, 1, false, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := probe(context.Background(), cl, base); err != nil {
			t.Errorf("pinned %q: %v", form, err)
		}
	}
}

func TestFingerprintPinRejectsAnotherCertificate(t *testing.T) {
	_, base, fp := startFake(t, newFakeFHIR())
	wrong := append([]byte(nil), fp...)
	wrong[0] ^= 0xff
	cl, err := newClient(trust{Fingerprint: wrong}, 1, false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = probe(context.Background(), cl, base)
	if !errors.Is(err, errFingerprint) {
		t.Fatalf("probe with a wrong pin: err = %v, want errFingerprint", err)
	}
	// waitReady gives up at once rather than polling until its timeout.
	if _, err := waitReady(context.Background(), cl, base, nil, time.Hour); !errors.Is(err, errFingerprint) {
		t.Fatalf("waitReady with a wrong pin: err = %v, want errFingerprint", err)
	}
}

func TestUnpinnedClientRejectsSelfSignedCertificate(t *testing.T) {
	_, base, _ := startFake(t, newFakeFHIR())
	cl, err := newClient(trust{}, 1, false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe(context.Background(), cl, base); err == nil {
		t.Fatal("system roots accepted the test server's self-signed certificate")
	}
}

func TestCAFileVerifiesTheServer(t *testing.T) {
	srv, base, _ := startFake(t, newFakeFHIR())
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := newClient(trust{CAFile: ca}, 1, false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe(context.Background(), cl, base); err != nil {
		t.Fatalf("-ca with the server's certificate: %v", err)
	}
}

func TestParseFingerprintAcceptsHexWithOrWithoutColons(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		in string
		ok bool
	}{
		{hex64, true},
		{strings.ToUpper(hex64), true},
		{strings.TrimSuffix(strings.Repeat("AB:", 32), ":"), true},
		{"  " + hex64 + "\n", true},
		{hex64[:62], false},       // 31 bytes
		{hex64 + "ab", false},     // 33 bytes
		{"zz" + hex64[2:], false}, // not hex
		{"", false},
	}
	for _, tt := range tests {
		_, err := parseFingerprint(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseFingerprint(%q): err = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func TestFingerprintInLineFindsThePrintedFingerprint(t *testing.T) {
	fp := make([]byte, 32)
	for i := range fp {
		fp[i] = byte(i * 7)
	}
	colons := formatFingerprint(fp)
	plain := strings.ToLower(strings.ReplaceAll(colons, ":", ""))
	tests := []struct {
		name string
		line string
		ok   bool
	}{
		{"colons", "TLS certificate SHA-256 fingerprint: " + colons, true},
		{"plain", "certificate sha-256 " + plain, true},
		{"key=value", "time=2026-01-02T10:11:12Z level=INFO msg=listening sha256=" + plain, true},
		{"json", `{"time":"2026-01-02T10:11:12Z","msg":"tls","cert_sha256":"` + colons + `"}`, true},
		{"prefixed", "SHA-256:" + plain, true},
		{"no marker", "fingerprint " + colons, false},
		{"too short", "SHA-256 " + colons[:len(colons)-3], false},
		{"too many pairs", "SHA-256 " + colons + ":00", false},
		{"other line", "time=2026-01-02T10:11:12Z msg=started", false},
	}
	for _, tt := range tests {
		got, ok := fingerprintInLine(tt.line)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if ok && formatFingerprint(got) != colons {
			t.Errorf("%s: fingerprint %s, want %s", tt.name, formatFingerprint(got), colons)
		}
	}
}
