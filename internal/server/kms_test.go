package server

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// flakyKMS is a KEK whose service can be taken down.
type flakyKMS struct {
	a     tink.AEAD
	down  atomic.Bool
	calls atomic.Int64
}

var errKMSDown = errors.New("kms: connection refused")

func (f *flakyKMS) Encrypt(p, ad []byte) ([]byte, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errKMSDown
	}
	return f.a.Encrypt(p, ad)
}

func (f *flakyKMS) Decrypt(c, ad []byte) ([]byte, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errKMSDown
	}
	return f.a.Decrypt(c, ad)
}

// TestKMSOutage takes the KMS down: what needs an unwrapped key fails with
// 503, nothing is written in the clear, and service resumes when the KMS
// is back.
func TestKMSOutage(t *testing.T) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	kms := &flakyKMS{a: a}
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Synchronous = "NORMAL"
	cfg.kek = kms
	s := openAt(t, cfg)
	known := s.create(patient("Known"))

	// A fresh node, so no data key is cached.
	closeAt(s)
	s = openAt(t, cfg)
	kms.down.Store(true)
	r := s.do("GET", "/Patient/"+known["id"].(string), nil)
	s.expectOutcome(r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// A new patient needs a new data key, which the KMS must wrap.
	p := patient("Plaintextcandidate")
	s.expectOutcome(s.do("POST", "/Patient", p), http.StatusServiceUnavailable)
	closeAt(s)
	if hits := storedHits(t, cfg, []string{"Plaintextcandidate"}); len(hits) > 0 {
		t.Fatal("a write during the outage reached the disk in the clear")
	}
	data, _ := os.ReadFile(filepath.Join(cfg.DataDir, DatabaseFile))
	if len(data) == 0 {
		t.Fatal("no database file")
	}

	kms.down.Store(false)
	s = openAt(t, cfg)
	s.expect(s.do("GET", "/Patient/"+known["id"].(string), nil), http.StatusOK)
	s.create(p)
	if b := s.expect(s.do("GET", "/Patient?family=plaintextcandidate", nil), http.StatusOK); b["total"] != float64(1) {
		t.Fatalf("after the outage: total %v", b["total"])
	}
}
