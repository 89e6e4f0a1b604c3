package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeFHIR is just enough of a FHIR server for the driver's tests: batch of
// transaction Bundles, read, and searchset Bundles filtered by patient.
type fakeFHIR struct {
	mu        sync.Mutex
	next      int
	resources map[string][]byte   // "Type/id" -> resource JSON
	byType    map[string][]string // type -> refs in creation order
	owner     map[string]string   // ref -> id of the patient whose bundle created it
	posted    [][]string          // resource types of each posted bundle, in arrival order
	absolute  string              // when set, locations are absolute under this base

	// reject, when set, decides the answer for a bundle whose Patient has
	// the given family name: an HTTP status with an OperationOutcome, or
	// 200 with entry `entry` failing.
	reject func(family string) (status, entry int, diagnostics string)
}

func newFakeFHIR() *fakeFHIR {
	return &fakeFHIR{resources: map[string][]byte{}, byType: map[string][]string{}, owner: map[string]string{}}
}

func (f *fakeFHIR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPost && path == "":
		f.transaction(w, r)
	case r.Method == http.MethodGet && path == "metadata":
		writeFHIR(w, 200, map[string]any{"resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1"})
	case r.Method == http.MethodGet && strings.Count(path, "/") == 1:
		f.mu.Lock()
		body, ok := f.resources[path]
		f.mu.Unlock()
		if !ok {
			writeOutcome(w, 404, "not-found", "no such resource")
			return
		}
		w.Header().Set("Content-Type", fhirJSON)
		w.Write(body)
	case r.Method == http.MethodGet && path != "" && !strings.Contains(path, "/"):
		f.search(w, r, path)
	default:
		writeOutcome(w, 400, "not-supported", "unsupported request")
	}
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", fhirJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func outcomeOf(code, diag string) map[string]any {
	return map[string]any{"resourceType": "OperationOutcome", "issue": []any{
		map[string]any{"severity": "error", "code": code, "diagnostics": diag},
	}}
}

func writeOutcome(w http.ResponseWriter, status int, code, diag string) {
	writeFHIR(w, status, outcomeOf(code, diag))
}

func (f *fakeFHIR) transaction(w http.ResponseWriter, r *http.Request) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.ResourceType != "Bundle" || b.Type != "transaction" {
		writeOutcome(w, 400, "invalid", "not a transaction Bundle")
		return
	}
	family := ""
	var types []string
	for _, e := range b.Entry {
		typ, _ := e.Resource["resourceType"].(string)
		types = append(types, typ)
		if names, ok := e.Resource["name"].([]any); ok && typ == "Patient" && len(names) > 0 {
			family, _ = names[0].(map[string]any)["family"].(string)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posted = append(f.posted, types)
	failEntry, failDiag := -1, ""
	if f.reject != nil {
		status, entry, diag := f.reject(family)
		if status != 0 && status != 200 {
			writeOutcome(w, status, "invalid", diag)
			return
		}
		if status == 200 {
			failEntry, failDiag = entry, diag
		}
	}
	patientID := ""
	ids := make([]string, len(b.Entry))
	for i, typ := range types {
		f.next++
		ids[i] = strconv.Itoa(f.next)
		if typ == "Patient" && patientID == "" {
			patientID = ids[i]
		}
	}
	var entries []any
	for i, e := range b.Entry {
		typ := types[i]
		ref := typ + "/" + ids[i]
		if i == failEntry {
			entries = append(entries, map[string]any{"response": map[string]any{
				"status": "409 Conflict", "outcome": outcomeOf("conflict", failDiag)}})
			continue
		}
		e.Resource["id"] = ids[i]
		body, _ := json.Marshal(e.Resource)
		f.resources[ref] = body
		f.byType[typ] = append(f.byType[typ], ref)
		if typ == "Patient" {
			f.owner[ref] = ids[i]
		} else if patientID != "" {
			f.owner[ref] = patientID
		}
		loc := ref + "/_history/1"
		if f.absolute != "" {
			loc = f.absolute + "/" + loc
		}
		entries = append(entries, map[string]any{"response": map[string]any{"status": "201 Created", "location": loc}})
	}
	writeFHIR(w, 200, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
}

// search filters by patient (and _id for Patient) and honours _count and
// _summary=count; every other parameter is accepted and ignored.
func (f *fakeFHIR) search(w http.ResponseWriter, r *http.Request, typ string) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	var match [][]byte
	for _, ref := range f.byType[typ] {
		if p := q.Get("patient"); p != "" && f.owner[ref] != strings.TrimPrefix(p, "Patient/") {
			continue
		}
		match = append(match, f.resources[ref])
	}
	out := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(match)}
	if q.Get("_summary") != "count" {
		n := len(match)
		if c, err := strconv.Atoi(q.Get("_count")); err == nil && c < n {
			n = c
		}
		var entries []any
		for _, body := range match[:n] {
			entries = append(entries, map[string]any{"resource": json.RawMessage(body), "search": map[string]any{"mode": "match"}})
		}
		out["entry"] = entries
	}
	writeFHIR(w, 200, out)
}

// Test bundles, Synthea-shaped but tiny.

type obsSpec struct {
	system, code, category string
	value                  float64
}

var fullURLs atomic.Int64

func entry(res map[string]any) map[string]any {
	id := fmt.Sprintf("urn:uuid:00000000-0000-0000-0000-%012d", fullURLs.Add(1))
	return map[string]any{"fullUrl": id, "resource": res, "request": map[string]any{"method": "POST", "url": res["resourceType"]}}
}

func patientBundle(family, birthDate string, obs []obsSpec, conditions, encounters, meds int) []byte {
	entries := []any{entry(map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": family, "given": []any{"Test"}}}, "birthDate": birthDate})}
	entries = append(entries, entry(map[string]any{"resourceType": "Organization", "name": "Clinic"}))
	for _, o := range obs {
		entries = append(entries, entry(map[string]any{
			"resourceType": "Observation", "status": "final",
			"category":      []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": o.category}}}},
			"code":          map[string]any{"coding": []any{map[string]any{"system": o.system, "code": o.code}}},
			"valueQuantity": map[string]any{"value": o.value, "unit": "mg/dL"},
		}))
	}
	for range conditions {
		entries = append(entries, entry(map[string]any{"resourceType": "Condition"}))
	}
	for range encounters {
		entries = append(entries, entry(map[string]any{"resourceType": "Encounter", "status": "finished"}))
	}
	for range meds {
		entries = append(entries, entry(map[string]any{"resourceType": "MedicationRequest", "status": "active", "intent": "order"}))
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

func sharedBundle(typ string, n int) []byte {
	var entries []any
	for range n {
		entries = append(entries, entry(map[string]any{"resourceType": typ, "name": "shared"}))
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

// writeTestBundles writes two shared bundles (3 + 2 entries) and the patient
// bundles given, and returns the folder.
func writeTestBundles(t *testing.T, patients map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"hospitalInformation1.json":     sharedBundle("Organization", 3),
		"practitionerInformation1.json": sharedBundle("Practitioner", 2),
	}
	for name, b := range patients {
		files[name] = b
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	loinc   = "http://loinc.org"
	glucose = obsSpec{loinc, "2339-0", "laboratory", 90}
	height  = obsSpec{loinc, "8302-2", "vital-signs", 170}
)

// threePatients is a small data set of 29 resources in three bundles.
func threePatients() map[string][]byte {
	obs := func(n int, o obsSpec) []obsSpec {
		var out []obsSpec
		for i := range n {
			o.value += float64(i)
			out = append(out, o)
		}
		return out
	}
	return map[string][]byte{
		// 1 Patient + 1 Organization + 6 Observation + 1 Condition + 2 Encounter + 1 MedicationRequest = 12
		"Ada_Lovelace.json": patientBundle("Lovelace", "1915-12-10", append(obs(4, glucose), obs(2, height)...), 1, 2, 1),
		// 1 + 1 + 6 + 0 + 1 + 0 = 9
		"Alan_Turing.json": patientBundle("Turing", "1912-06-23", obs(6, glucose), 0, 1, 0),
		// 1 + 1 + 2 + 2 + 1 + 1 = 8
		"Grace_Hopper.json": patientBundle("Hopper", "1906-12-09", obs(2, height), 2, 1, 1),
	}
}
