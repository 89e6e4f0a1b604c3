package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
)

// TestOlderPrefixLengthIsReindexedAtOpen writes string index rows as a
// binary with another prefix length did (forms of 4-character prefixes,
// recorded as such), shows that this binary's searches miss them, and that
// opening the data directory again re-indexes them: every search answers
// again, and the new length is recorded.
func TestOlderPrefixLengthIsReindexedAtOpen(t *testing.T) {
	cfg := testConfig(t)
	s := openAt(t, cfg)
	for _, fam := range []string{"Smith", "Smithson", "Smiley", "Jones"} {
		s.create(patient(fam, "A"))
	}
	total := func(s *testServer, q string) float64 {
		t.Helper()
		r := s.do("GET", q, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var b struct{ Total float64 }
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		return b.Total
	}
	want := map[string]float64{"/Patient?family=smi": 3, "/Patient?family=Smith": 2, "/Patient?family=jon": 1, "/Patient?family:exact=Smiley": 1}
	for q, n := range want {
		if got := total(s, q); got != n {
			t.Fatalf("%s: %v, want %v", q, got, n)
		}
	}
	if v, ok, err := s.node.DB.Meta(context.Background(), prefixLenKey); err != nil || !ok || v != "3" {
		t.Fatalf("recorded prefix length %q %v %v, want 3", v, ok, err)
	}

	// Rewrite the rows as an older binary wrote them.
	ctx := context.Background()
	keys := s.node.Keys
	enc := search.Keyed{Form: keys.IndexForm}
	old := func(x *store.Index) error {
		if err := enc.EncodeIndex(x); err != nil {
			return err
		}
		for i := range x.Strings {
			r := &x.Strings[i]
			p, n := r.Norm, 0
			for j := range p {
				if n == 4 {
					p = p[:j]
					break
				}
				n++
			}
			f, err := keys.IndexForm(r.Param, "p", p)
			if err != nil {
				return err
			}
			r.IxNorm = f
		}
		return nil
	}
	if n, err := s.node.DB.Reindex(ctx, old, nil); err != nil || n != 4 {
		t.Fatalf("rewrite as 4-character prefixes: %d, %v", n, err)
	}
	if err := s.node.DB.SetMeta(ctx, prefixLenKey, "4"); err != nil {
		t.Fatal(err)
	}
	if got := total(s, "/Patient?family=Smith"); got != 0 {
		t.Fatalf("family=Smith on 4-character rows: %v, want 0 (the test would not show a re-index)", got)
	}
	closeAt(s)

	s = openAt(t, cfg)
	for q, n := range want {
		if got := total(s, q); got != n {
			t.Fatalf("after re-opening, %s: %v, want %v", q, got, n)
		}
	}
	if v, _, _ := s.node.DB.Meta(ctx, prefixLenKey); v != "3" {
		t.Fatalf("recorded prefix length %q after re-index, want 3", v)
	}
}
