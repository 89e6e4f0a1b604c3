package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRotationUnderLoad rotates the KEK, then every data key with
// re-encryption, while clients keep reading, searching and writing: every
// request succeeds, and everything reads back afterwards.
func TestRotationUnderLoad(t *testing.T) {
	cfg := testConfig(t)
	s := openAt(t, cfg)
	var ids []string
	for i := range 20 {
		p := s.create(patient(fmt.Sprintf("Rot%02d", i)))
		ids = append(ids, p["id"].(string))
		s.create(map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "rotation"},
			"subject": map[string]any{"reference": "Patient/" + p["id"].(string)}})
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var requests, failures atomic.Int64
	var firstFailure atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				var r *response
				switch i % 3 {
				case 0:
					r = s.do("GET", "/Patient/"+ids[(i+w)%len(ids)], nil)
				case 1:
					r = s.do("GET", "/Observation?code:text=rotation&_count=5", nil)
				default:
					r = s.do("POST", "/Patient", patient(fmt.Sprintf("Load%d", i)))
				}
				requests.Add(1)
				if r.status >= 300 {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %s", r.status, r.body))
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := KEK(context.Background(), cfg, log, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.node.Keys.Rewrap(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.node.Keys.RotateDataKeys(context.Background(), nil); err != nil || n < 21 {
		t.Fatalf("rotated %d data keys: %v", n, err)
	}
	time.Sleep(200 * time.Millisecond)
	resealed, _, err := s.node.Reencrypt(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resealed < 80 {
		t.Fatalf("re-encrypted only %d ciphertexts", resealed)
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d requests failed during rotation; first: %v", failures.Load(), requests.Load(), firstFailure.Load())
	}
	if requests.Load() < 50 {
		t.Fatalf("only %d requests ran", requests.Load())
	}
	infos, err := s.node.Keys.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range infos {
		if strings.HasPrefix(k.Name, "dek:") && k.Keys != 1 {
			t.Errorf("%s keeps %d versions after re-encryption", k.Name, k.Keys)
		}
	}
	// Everything still reads, in this process and in a fresh one.
	check := func(s *testServer) {
		for _, id := range ids {
			s.expect(s.do("GET", "/Patient/"+id, nil), http.StatusOK)
		}
		b := s.expect(s.do("GET", "/Observation?code:text=rotation&_count=100", nil), http.StatusOK)
		if b["total"] != float64(20) {
			t.Fatalf("search after rotation: total %v", b["total"])
		}
	}
	check(s)
	closeAt(s)
	check(openAt(t, cfg))
}
