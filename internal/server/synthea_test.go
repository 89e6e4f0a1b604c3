package server

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// TestSyntheaIngest loads every Synthea patient through the HTTP API as a
// transaction, then checks counts per resource type and per patient against
// the data set's manifest, and a sample of reads and searches.
func TestSyntheaIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 37,820 resources")
	}
	dir := shareddata.Path(t, "synthea")
	s := newTestServer(t)
	files, err := filepath.Glob(filepath.Join(dir, "bundles", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundles: %v", err)
	}
	patientOf := make(map[string]string) // file name -> server id of its Patient
	var mu sync.Mutex
	jobs := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan string, len(files))
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				body, err := os.ReadFile(f)
				if err != nil {
					errs <- err.Error()
					continue
				}
				r := s.do("POST", "/", body)
				if r.status != http.StatusOK {
					errs <- filepath.Base(f) + ": " + strconv.Itoa(r.status) + " " + string(r.body[:min(len(r.body), 300)])
					continue
				}
				for _, e := range r.json(t)["entry"].([]any) {
					loc, _ := e.(map[string]any)["response"].(map[string]any)["location"].(string)
					if strings.HasPrefix(loc, "Patient/") {
						mu.Lock()
						patientOf[filepath.Base(f)] = strings.Split(loc, "/")[1]
						mu.Unlock()
					}
				}
			}
		}()
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Counts per resource type, from the manifest.
	m := readManifest(t, filepath.Join(dir, "manifest.csv"))
	want := map[string]int{"Organization": 102, "Practitioner": 102} // the two shared bundles
	for _, row := range m.rows {
		if row["patient_id"] == "" {
			continue
		}
		want["Patient"]++
		for _, typ := range m.types {
			n, _ := strconv.Atoi(row[typ])
			want[typ] += n
		}
	}
	total := 0
	for typ, n := range want {
		total += n
		got := s.expect(s.do("GET", "/"+typ+"?_summary=count", nil), http.StatusOK)
		if got["total"] != float64(n) {
			t.Errorf("%s: %v resources, want %d", typ, got["total"], n)
		}
	}
	if total != 37820 {
		t.Errorf("manifest total %d, want 37820", total)
	}

	// Per patient: reads and searches for a sample.
	sample := 0
	males := 0
	for _, row := range m.rows {
		if row["gender"] == "male" && row["patient_id"] != "" {
			males++
		}
	}
	got := s.expect(s.do("GET", "/Patient?gender=male&_summary=count", nil), http.StatusOK)
	if got["total"] != float64(males) {
		t.Errorf("male patients: %v, want %d", got["total"], males)
	}
	for _, row := range m.rows {
		id, ok := patientOf[row["file"]]
		if !ok || sample >= 15 {
			continue
		}
		sample++
		p := s.expect(s.do("GET", "/Patient/"+id, nil), http.StatusOK)
		if p["birthDate"] != row["birth_date"] || p["gender"] != row["gender"] {
			t.Errorf("%s: read birthDate %v gender %v, manifest %s %s", row["file"], p["birthDate"], p["gender"], row["birth_date"], row["gender"])
		}
		for _, typ := range []string{"Observation", "Encounter", "Condition", "Claim"} {
			n, _ := strconv.Atoi(row[typ])
			got := s.expect(s.do("GET", "/"+typ+"?patient="+id+"&_summary=count", nil), http.StatusOK)
			if got["total"] != float64(n) {
				t.Errorf("%s: %s?patient: %v, want %d", row["file"], typ, got["total"], n)
			}
		}
		// The Synthea identifier finds the patient; so does its birth date.
		// Synthea's own identifier is the uuid in the file name.
		synID := strings.TrimSuffix(row["file"][strings.LastIndex(row["file"], "_")+1:], ".json")
		q := "/Patient?identifier=" + url.QueryEscape("https://github.com/synthetichealth/synthea|"+synID)
		found := entries(s.expect(s.do("GET", q, nil), http.StatusOK))
		if len(found) != 1 || found[0]["id"] != id {
			t.Errorf("%s: identifier search found %d", row["file"], len(found))
		}
		found = entries(s.expect(s.do("GET", "/Patient?_count=200&birthdate="+row["birth_date"], nil), http.StatusOK))
		if !slices.ContainsFunc(found, func(r map[string]any) bool { return r["id"] == id }) {
			t.Errorf("%s: birthdate search misses the patient", row["file"])
		}
		// Everything that refers to the patient is in its compartment.
		obs := entries(s.expect(s.do("GET", "/Observation?_count=5&subject=Patient/"+id+"&_include=Observation:subject", nil), http.StatusOK))
		if n, _ := strconv.Atoi(row["Observation"]); n > 0 && !slices.ContainsFunc(obs, func(r map[string]any) bool { return r["resourceType"] == "Patient" }) {
			t.Errorf("%s: _include did not add the patient", row["file"])
		}
	}
	if sample == 0 {
		t.Fatal("no patient sampled")
	}

	// The dump test: with every patient loaded (and read and searched), no
	// patient name, identifier, phone, email or street address stands in
	// any file of the data directory, WAL included.
	needles := patientNeedles(t, files)
	if len(needles) < 500 {
		t.Fatalf("only %d needles", len(needles))
	}
	// The scanner finds them where they are in the clear: the bundles.
	if found := plaintextHits(t, filepath.Join(dir, "bundles"), needles); len(found) < len(needles) {
		t.Fatalf("the scanner found %d of %d needles in the source bundles", len(found), len(needles))
	}
	if hits := storedHits(t, Config{DataDir: s.node.Dir, Storage: s.storage}, needles); len(hits) > 0 {
		n := 0
		for needle, file := range hits {
			if n++; n <= 10 {
				t.Errorf("plaintext in %s: %d characters of patient data", file, len(needle))
			}
		}
		t.Fatalf("%d patient values found in the clear", len(hits))
	}
}

type manifest struct {
	types []string
	rows  []map[string]string
}

func readManifest(t *testing.T, path string) *manifest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	m := &manifest{}
	for i, h := range head {
		if i > slices.Index(head, "deceased") {
			m.types = append(m.types, h)
		}
	}
	for _, r := range recs[1:] {
		row := make(map[string]string, len(head))
		for i, h := range head {
			row[h] = r[i]
		}
		m.rows = append(m.rows, row)
	}
	return m
}
