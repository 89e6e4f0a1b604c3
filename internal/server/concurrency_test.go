package server

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// Concurrent writers through the API (on either driver: TestSuiteOnPostgres
// runs this with many PostgreSQL transactions at once): two updates of one
// version never both win, updates without a precondition are never lost,
// a conditional create creates once, and a transaction Bundle is all or
// nothing while others run.
func TestConcurrentWritersThroughTheAPI(t *testing.T) {
	s := newTestServer(t)
	const n = 8
	parallel := func(fn func(i int) int) []int {
		out := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = fn(i)
			}()
		}
		wg.Wait()
		return out
	}
	count := func(xs []int, v int) int {
		c := 0
		for _, x := range xs {
			if x == v {
				c++
			}
		}
		return c
	}

	// Updates of version 1, each with If-Match: one wins, the others 412.
	p := s.create(patient("Racefamily"))
	pid := p["id"].(string)
	got := parallel(func(i int) int {
		q := patient("Racefamily", fmt.Sprint("G", i))
		q["id"] = pid
		return s.do("PUT", "/Patient/"+pid, q, "If-Match", `W/"1"`).status
	})
	if count(got, http.StatusOK) != 1 || count(got, http.StatusPreconditionFailed) != n-1 {
		t.Fatalf("updates of one version: statuses %v, want one 200 and %d 412", got, n-1)
	}

	// Updates without a precondition: every one is a version of its own.
	got = parallel(func(i int) int {
		q := patient("Racefamily", fmt.Sprint("H", i))
		q["id"] = pid
		return s.do("PUT", "/Patient/"+pid, q).status
	})
	if count(got, http.StatusOK) != n {
		t.Fatalf("updates without precondition: statuses %v", got)
	}
	h := s.expect(s.do("GET", "/Patient/"+pid+"/_history?_count=100", nil), http.StatusOK)
	var versions []string
	for _, r := range entries(h) {
		versions = append(versions, r["meta"].(map[string]any)["versionId"].(string))
	}
	slices.Sort(versions)
	if len(versions) != n+2 || h["total"] != float64(n+2) {
		t.Fatalf("history has versions %v (total %v), want %d distinct", versions, h["total"], n+2)
	}
	if len(slices.Compact(slices.Clone(versions))) != n+2 {
		t.Fatalf("a version number was given twice: %v", versions)
	}

	// A conditional create raced by itself creates once.
	got = parallel(func(int) int {
		q := patient("Condfamily")
		q["identifier"] = []any{map[string]any{"system": "http://hosp/mrn", "value": "race-1"}}
		return s.do("POST", "/Patient", q, "If-None-Exist", "identifier=http://hosp/mrn|race-1").status
	})
	if count(got, http.StatusCreated) != 1 || count(got, http.StatusOK) != n-1 {
		t.Fatalf("conditional creates: statuses %v, want one 201 and %d 200", got, n-1)
	}
	if b := s.expect(s.do("GET", "/Patient?identifier=http://hosp/mrn|race-1&_summary=count", nil), http.StatusOK); b["total"] != float64(1) {
		t.Fatalf("conditional creates left %v patients", b["total"])
	}

	// Transactions at once, every other one failing on its last entry: the
	// failed ones leave nothing, the others everything.
	got = parallel(func(i int) int {
		var es []any
		for k := range 5 {
			es = append(es, map[string]any{
				"resource": map[string]any{"resourceType": "Observation", "status": "final",
					"code":    map[string]any{"text": fmt.Sprintf("tx-%d-%d", i, k)},
					"subject": map[string]any{"reference": "Patient/" + pid}},
				"request": map[string]any{"method": "POST", "url": "Observation"}})
		}
		if i%2 == 1 {
			// The patient is far past version 1: 412, and the whole
			// Bundle fails.
			es = append(es, map[string]any{"request": map[string]any{"method": "PUT", "url": "Patient/" + pid, "ifMatch": `W/"1"`},
				"resource": map[string]any{"resourceType": "Patient", "id": pid}})
		}
		return s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": es}).status
	})
	if count(got, http.StatusOK) != n/2 {
		t.Fatalf("transactions: statuses %v, want %d 200", got, n/2)
	}
	b := s.expect(s.do("GET", "/Observation?subject=Patient/"+pid+"&_summary=count", nil), http.StatusOK)
	if b["total"] != float64(5*n/2) {
		t.Fatalf("%v observations after %d transactions of 5 succeeded", b["total"], n/2)
	}
}
