package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/shareddata"
)

// TestSearchConformance runs the search conformance table in
// testdata/search (its README describes the data set, the line format and
// the semantic readings) against the whole server.
func TestSearchConformance(t *testing.T) {
	data := shareddata.Dir(t)
	root := filepath.Join("..", "..", "testdata", "search")
	s := newTestServer(t)
	loadDataset(t, s, data, filepath.Join(root, "dataset.txt"))

	f, err := os.Open(filepath.Join(root, "conformance.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n, line := 0, 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		query, want, ok := strings.Cut(text, "\t")
		if !ok {
			t.Fatalf("line %d: no tab", line)
		}
		n++
		t.Run(query, func(t *testing.T) {
			s.t = t
			checkCase(t, s, query, want)
		})
	}
	if n < 150 {
		t.Fatalf("only %d cases", n)
	}
}

func checkCase(t *testing.T, s *testServer, query, want string) {
	r := s.do("GET", "/"+query, nil, "Prefer", "handling=strict")
	if want == "error:400" {
		s.expectOutcome(r, http.StatusBadRequest)
		return
	}
	b := s.expect(r, http.StatusOK)
	if total, ok := strings.CutPrefix(want, "total:"); ok {
		if got, _ := json.Marshal(b["total"]); string(got) != total {
			t.Fatalf("total %s, want %s", got, total)
		}
		return
	}
	var matches, included []string
	for {
		es, _ := b["entry"].([]any)
		for _, e := range es {
			em := e.(map[string]any)
			res, _ := em["resource"].(map[string]any)
			mode, _ := em["search"].(map[string]any)["mode"].(string)
			id := res["resourceType"].(string) + "/" + res["id"].(string)
			switch mode {
			case "match":
				matches = append(matches, id)
			case "include":
				included = append(included, id)
			}
		}
		next := link(b, "next")
		if next == "" {
			break
		}
		u, _ := url.Parse(next)
		b = s.expect(s.do("GET", u.RequestURI(), nil, "Prefer", "handling=strict"), http.StatusOK)
	}
	wantMatches, wantIncluded, hasInclude := strings.Cut(want, " ; include ")
	ordered := strings.HasPrefix(wantMatches, "ordered:")
	wantMatches = strings.TrimPrefix(wantMatches, "ordered:")
	if !ordered {
		slices.Sort(matches)
	}
	if got, w := join(matches), dash(wantMatches); got != w {
		t.Errorf("matches\n got  %s\n want %s", got, w)
	}
	if hasInclude {
		slices.Sort(included)
		if got, w := join(included), dash(wantIncluded); got != w {
			t.Errorf("included\n got  %s\n want %s", got, w)
		}
	}
}

func join(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, " ")
}

func dash(s string) string { return strings.TrimSpace(s) }

// loadDataset stores the data set as testdata/search/README.md describes:
// Synthea bundles with ids taken from their urn:uuid fullUrls, examples as
// they are, all with PUT.
func loadDataset(t *testing.T, s *testServer, data, list string) {
	t.Helper()
	f, err := os.Open(list)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.ParseResource(raw)
		if err != nil {
			t.Fatal(err)
		}
		var resources []map[string]any
		if res["resourceType"] == "Bundle" {
			idOf := map[string]string{}
			for _, e := range res["entry"].([]any) {
				em := e.(map[string]any)
				r := em["resource"].(map[string]any)
				full := em["fullUrl"].(string)
				id := strings.TrimPrefix(full, "urn:uuid:")
				r["id"] = id
				idOf[full] = r["resourceType"].(string) + "/" + id
				resources = append(resources, r)
			}
			for _, r := range resources {
				rewriteRefs(r, idOf)
			}
		} else {
			resources = append(resources, res)
		}
		var entries []any
		for _, r := range resources {
			entries = append(entries, map[string]any{"resource": r, "request": map[string]any{
				"method": "PUT", "url": r["resourceType"].(string) + "/" + r["id"].(string)}})
		}
		tx := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}
		r := s.do("POST", "/", tx)
		if r.status != http.StatusOK {
			t.Fatalf("load %s: %d %s", name, r.status, r.body)
		}
	}
}

func rewriteRefs(v any, idOf map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["reference"].(string); ok {
			if to, ok := idOf[ref]; ok {
				x["reference"] = to
			}
		}
		for _, c := range x {
			rewriteRefs(c, idOf)
		}
	case []any:
		for _, c := range x {
			rewriteRefs(c, idOf)
		}
	}
}
