package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

func TestIngestCountsResourcesAndFailuresByFile(t *testing.T) {
	for _, absolute := range []bool{false, true} {
		name := "relative locations"
		if absolute {
			name = "absolute locations"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeFHIR()
			f.reject = func(family string) (int, int, string) {
				switch family {
				case "Failhard":
					return 400, 0, "Bundle.entry[2].resource: unknown element"
				case "Entryfail":
					return 200, 3, "duplicate identifier"
				}
				return 0, 0, ""
			}
			srv, base, fp := startFake(t, f)
			if absolute {
				f.absolute = srv.URL + "/fhir"
			}
			patients := threePatients()
			// 1 Patient + 1 Organization + 1 Observation = 3 entries
			patients["Bad_Bundle.json"] = patientBundle("Failhard", "2000-01-01", []obsSpec{glucose}, 0, 0, 0)
			// 1 + 1 + 2 + 1 Encounter = 5 entries
			patients["Half_Done.json"] = patientBundle("Entryfail", "2000-01-01", []obsSpec{glucose, height}, 0, 1, 0)
			files, err := loadBundles(writeTestBundles(t, patients), 0)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := newClient(trust{Fingerprint: fp}, 2, false, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}

			res, data := runIngest(context.Background(), cl, base, files, 2)

			if res.Bundles != 7 || res.SharedBundles != 2 || res.OKBundles != 5 {
				t.Errorf("bundles %d (shared %d, ok %d), want 7 (2, 5)", res.Bundles, res.SharedBundles, res.OKBundles)
			}
			// shared 3 + 2, patients 12 + 9 + 8
			if res.Resources != 34 || res.FailedResources != 8 {
				t.Errorf("resources %d, failed %d; want 34, 8", res.Resources, res.FailedResources)
			}
			if res.Latency.N != 5 {
				t.Errorf("latency over %d bundles, want the 5 that succeeded", res.Latency.N)
			}
			want := []ingestFailure{
				{File: "Bad_Bundle.json", Status: 400, Entry: -1, Message: "Bundle.entry[2].resource: unknown element"},
				{File: "Half_Done.json", Status: 200, Entry: 3, EntryStatus: "409 Conflict", Message: "duplicate identifier"},
			}
			if !slices.Equal(res.Failures, want) {
				t.Errorf("failures\n got %+v\nwant %+v", res.Failures, want)
			}
			for _, types := range f.posted[:2] {
				if slices.Contains(types, "Patient") {
					t.Errorf("a patient bundle was posted before the shared bundles: %v", types)
				}
			}

			// What the later phases draw from: only what the server created
			// and acknowledged.
			if len(data.Refs) != 34 {
				t.Errorf("%d refs collected, want 34", len(data.Refs))
			}
			for _, ref := range data.Refs {
				if _, ok := f.resources[ref]; !ok {
					t.Errorf("collected %s, which the server does not have", ref)
				}
			}
			if len(data.Patients) != 3 {
				t.Fatalf("%d patients collected, want 3", len(data.Patients))
			}
			for _, p := range data.Patients {
				if _, ok := f.resources["Patient/"+p.ID]; !ok {
					t.Errorf("patient id %q is not one the server gave out", p.ID)
				}
				if p.Family == "Lovelace" {
					if len(p.Codes) != 2 || p.LabObs != 4 || p.Types["Encounter"] != 2 || p.BirthYear != 1915 {
						t.Errorf("Lovelace facts: %+v", p)
					}
				}
			}
		})
	}
}

func TestLoadBundlesPutsSharedFirstAndLimitsPatients(t *testing.T) {
	files, err := loadBundles(writeTestBundles(t, threePatients()), 2)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	want := []string{"hospitalInformation1.json", "practitionerInformation1.json", "Ada_Lovelace.json", "Alan_Turing.json"}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
}

func TestCheckTransactionRequiresEveryEntryCreatedWithALocation(t *testing.T) {
	f := &bundleFile{Name: "p.json", Types: []string{"Patient", "Observation"}}
	ok := `{"resourceType":"Bundle","type":"transaction-response","entry":[
		{"response":{"status":"201 Created","location":"Patient/p1/_history/1"}},
		{"response":{"status":"200 OK","location":"https://h.example/fhir/Observation/o1/_history/3"}}]}`
	tests := []struct {
		name     string
		o        outcome
		body     string
		wantRefs []string
		want     *ingestFailure // File is always p.json
	}{
		{"ok", outcome{Status: 200}, ok, []string{"Patient/p1", "Observation/o1"}, nil},
		{"transport error", outcome{Err: errors.New("connection refused")}, "", nil,
			&ingestFailure{Status: 0, Entry: -1, Message: "transport: connection refused"}},
		{"http error with outcome", outcome{Status: 422},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"first"},{"diagnostics":"second"}]}`, nil,
			&ingestFailure{Status: 422, Entry: -1, Message: "first"}},
		{"http error with details text", outcome{Status: 400},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"bad"}}]}`, nil,
			&ingestFailure{Status: 400, Entry: -1, Message: "bad"}},
		{"http error without outcome", outcome{Status: 502}, "<html>bad gateway</html>", nil,
			&ingestFailure{Status: 502, Entry: -1, Message: "no OperationOutcome diagnostics"}},
		{"batch-response", outcome{Status: 200}, strings.Replace(ok, "transaction-response", "batch-response", 1), nil,
			&ingestFailure{Status: 200, Entry: -1, Message: `response is a Bundle of type "batch-response", want a Bundle of type transaction-response`}},
		{"too few entries", outcome{Status: 200},
			`{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201","location":"Patient/1"}}]}`, nil,
			&ingestFailure{Status: 200, Entry: -1, Message: "response has 1 entries for 2 request entries"}},
		{"entry failed", outcome{Status: 200},
			`{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201","location":"Patient/1"}},
			{"response":{"status":"400 Bad Request","outcome":{"resourceType":"OperationOutcome","issue":[{"diagnostics":"no code"}]}}}]}`, nil,
			&ingestFailure{Status: 200, Entry: 1, EntryStatus: "400 Bad Request", Message: "no code"}},
		{"no location", outcome{Status: 200},
			`{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201"}},{"response":{"status":"201","location":"Observation/1"}}]}`, nil,
			&ingestFailure{Status: 200, Entry: 0, EntryStatus: "201", Message: `location "": want Type/id[/_history/version]`}},
		{"location of another type", outcome{Status: 200},
			`{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201","location":"Patient/1"}},{"response":{"status":"201","location":"Condition/1"}}]}`, nil,
			&ingestFailure{Status: 200, Entry: 1, EntryStatus: "201", Message: "location is a Condition for a Observation entry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs, fail := checkTransaction(f, tt.o, []byte(tt.body))
			if tt.want != nil {
				tt.want.File = "p.json"
			}
			switch {
			case tt.want == nil && fail != nil:
				t.Fatalf("unexpected failure %+v", fail)
			case tt.want != nil && (fail == nil || *fail != *tt.want):
				t.Fatalf("failure\n got %+v\nwant %+v", fail, tt.want)
			}
			if !slices.Equal(refs, tt.wantRefs) {
				t.Errorf("refs %v, want %v", refs, tt.wantRefs)
			}
		})
	}
}

func TestRefFromLocationAcceptsRelativeAndAbsolute(t *testing.T) {
	tests := []struct {
		loc, want string
	}{
		{"Patient/123/_history/1", "Patient/123"},
		{"/Patient/123/_history/1", "Patient/123"},
		{"Patient/123", "Patient/123"},
		{"https://h.example:8443/Patient/abc/_history/2", "Patient/abc"},
		{"https://h.example/fhir/r4/Observation/x-1/_history/7", "Observation/x-1"},
		{"http://127.0.0.1:8080/Encounter/e", "Encounter/e"},
		{"", ""},
		{"Patient", ""},
		{"_history/1", ""},
	}
	for _, tt := range tests {
		got, err := refFromLocation(tt.loc)
		if tt.want == "" {
			if err == nil {
				t.Errorf("refFromLocation(%q) = %q, want an error", tt.loc, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("refFromLocation(%q) = %q, %v; want %q", tt.loc, got, err, tt.want)
		}
	}
}

func TestLoadBundlesParsesTheSyntheaSample(t *testing.T) {
	files, err := loadBundles(shareddata.Path(t, "synthea", "bundles"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Counts from shared/data/README.md.
	resources, shared, withFacts := 0, 0, 0
	for _, f := range files {
		resources += len(f.Types)
		if f.Shared {
			shared++
			continue
		}
		if f.patientIdx >= 0 && f.facts.p.Family != "" && f.facts.p.BirthYear > 0 && len(f.facts.p.Codes) > 0 {
			withFacts++
		}
	}
	if len(files) != 125 || shared != 2 || !files[0].Shared || !files[1].Shared || resources != 37820 {
		t.Errorf("%d files (%d shared, first two shared: %v %v), %d resources; want 125 (2), 37,820",
			len(files), shared, files[0].Shared, files[1].Shared, resources)
	}
	if withFacts != 123 {
		t.Errorf("%d patient bundles with a Patient, family, birth year and Observation codes; want 123", withFacts)
	}
}
