package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/search"
)

// TestIndexRotationUnderLoad rotates the blind-index key from a second node
// on the same data directory (as `hestia keys rotate index` does beside a
// running server) while clients search by string prefix, :exact, token,
// identifier and uri, and write: every search answers the same in every
// phase, what was written during the rotation is found afterwards, and a
// fresh node, which knows only the new key, finds everything.
func TestIndexRotationUnderLoad(t *testing.T) {
	cfg := testConfig(t)
	cfg.keyTTL = 100 * time.Millisecond
	s := openAt(t, cfg)
	const profile = "http://hestia.example/StructureDefinition/rotix"
	for i := range 20 {
		p := patient("Rotix", fmt.Sprintf("G%02d", i))
		p["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.3", "value": fmt.Sprintf("MRN-%03d", i)}}
		p["meta"] = map[string]any{"profile": []any{profile}}
		pat := s.create(p)
		s.create(map[string]any{"resourceType": "Observation", "status": "final",
			"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
			"subject": map[string]any{"reference": "Patient/" + pat["id"].(string)}})
	}
	searches := map[string]float64{
		"/Patient?family=Rotix":                         20,
		"/Patient?family=roti":                          20,
		"/Patient?family:exact=Rotix":                   20,
		"/Patient?family:exact=rotix":                   0,
		"/Patient?identifier=urn:oid:1.2.3|MRN-007":     1,
		"/Patient?_profile=" + url.QueryEscape(profile): 20,
		"/Observation?code=http://loinc.org|8867-4":     20,
		"/Observation?code=8867-4":                      20,
	}
	check := func(s *testServer) error {
		for q, want := range searches {
			r := s.do("GET", q+"&_count=50", nil)
			if r.status != http.StatusOK {
				return fmt.Errorf("%s: %d %s", q, r.status, r.body)
			}
			var b struct{ Total float64 }
			if err := json.Unmarshal(r.body, &b); err != nil {
				return fmt.Errorf("%s: %v", q, err)
			}
			if got := b.Total; got != want {
				return fmt.Errorf("%s: total %v, want %v", q, got, want)
			}
		}
		return nil
	}
	if err := check(s); err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var searchRounds, writes, failures atomic.Int64
	var firstFailure atomic.Value
	fail := func(err error) {
		failures.Add(1)
		firstFailure.CompareAndSwap(nil, err.Error())
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := check(s); err != nil {
					fail(err)
				}
				searchRounds.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			p := patient("Newrot", fmt.Sprintf("N%d", i))
			p["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.3", "value": fmt.Sprintf("NEW-%d", i)}}
			if r := s.do("POST", "/Patient", p); r.status != http.StatusCreated {
				fail(fmt.Errorf("create: %d %s", r.status, r.body))
			}
			writes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	// The rotation runs on a node of its own, as the command does.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	other, err := OpenNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var steps []string
	rounds := func() int64 { return searchRounds.Load() }
	before := rounds()
	rebuilt, err := other.RotateIndex(context.Background(), 3*cfg.keyTTL, func(msg string) {
		steps = append(steps, msg)
		// Let searches run in every phase.
		for r := rounds(); rounds() < r+3 && ctx.Err() == nil; {
			time.Sleep(10 * time.Millisecond)
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * cfg.keyTTL)
	stop()
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d requests failed during the index rotation; first: %v", failures.Load(), firstFailure.Load())
	}
	if rounds()-before < 10 || writes.Load() < 10 {
		t.Fatalf("only %d search rounds and %d writes ran during the rotation", rounds()-before, writes.Load())
	}
	t.Logf("steps: %q; rebuilt %d resources; %d search rounds, %d writes", steps, rebuilt, rounds()-before, writes.Load())
	if rebuilt < 40 {
		t.Fatalf("rebuilt the rows of %d resources, want at least the 40 written before", rebuilt)
	}

	// The rotation is over: one key, and nothing left under the old one.
	phase, _, err := other.Keys.IndexRotation(context.Background())
	if err != nil || phase != crypt.IndexSteady {
		t.Fatalf("phase after rotation: %v, %v", phase, err)
	}
	enc := search.Keyed{Form: other.Keys.IndexForm}
	if again, err := other.DB.Reindex(context.Background(), enc.EncodeIndex, nil); err != nil || again != 0 {
		t.Fatalf("a second rebuild found %d resources not under the new key (%v)", again, err)
	}

	// Everything written during the rotation is found, here and in a
	// fresh node.
	written := float64(writes.Load())
	searches["/Patient?family:exact=Newrot"] = written
	searches["/Patient?identifier=urn:oid:1.2.3|NEW-0"] = 1
	if err := check(s); err != nil {
		t.Fatal(err)
	}
	other.Close()
	closeAt(s)
	if err := check(openAt(t, cfg)); err != nil {
		t.Fatal(err)
	}
}
