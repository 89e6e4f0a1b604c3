package main

import (
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func testDataset() *dataset {
	d := newDataset()
	ada := &patientFacts{ID: "p1", Family: "Lovelace", BirthYear: 1915, LabObs: 2,
		Codes: []string{"http://loinc.org|2339-0", "http://loinc.org|8302-2"},
		Types: map[string]int{"Patient": 1, "Observation": 3, "Condition": 1, "Encounter": 2}}
	alan := &patientFacts{ID: "p2", Family: "Tu", BirthYear: 1912,
		Codes: []string{"http://loinc.org|8302-2"},
		Types: map[string]int{"Patient": 1, "Observation": 1, "MedicationRequest": 1}}
	d.add([]string{"Patient/p1"}, ada, map[string][]float64{"http://loinc.org|2339-0": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10.04}})
	d.add([]string{"Patient/p2"}, alan, map[string][]float64{"http://loinc.org|8302-2": {170}})
	return d
}

func TestSearchTargetsDrawValuesFromTheData(t *testing.T) {
	d := testDataset()
	targets, skipped := searchTargets(d)
	if len(skipped) != 0 || len(targets) != len(searchTemplates) {
		t.Fatalf("%d targets, skipped %v; want all %d", len(targets), skipped, len(searchTemplates))
	}
	byID := map[string]*patientFacts{}
	for _, p := range d.Patients {
		byID[p.ID] = p
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i, tg := range targets {
		if tg.Name != searchTemplates[i] {
			t.Fatalf("target %d is %q, want %q", i, tg.Name, searchTemplates[i])
		}
		wantType, _, _ := strings.Cut(tg.Name, "?")
		for range 50 {
			rel := tg.Next(r)
			typ, rawQuery, _ := strings.Cut(rel, "?")
			q, err := url.ParseQuery(rawQuery)
			if typ != wantType || err != nil {
				t.Fatalf("%s: generated %q", tg.Name, rel)
			}
			p := byID[q.Get("patient")]
			switch i {
			case 0: // the headline: a code the patient really has
				if p == nil || !slices.Contains(p.Codes, q.Get("code")) {
					t.Errorf("%s: %q asks for a code patient %q does not have", tg.Name, rel, q.Get("patient"))
				}
			case 1:
				if p == nil || p.LabObs == 0 || q.Get("category") != "laboratory" || q.Get("_sort") != "-date" || q.Get("_count") != "20" {
					t.Errorf("%s: %q", tg.Name, rel)
				}
			case 2: // a 3-letter prefix, or the whole name when shorter
				if f := q.Get("family"); f != "Lov" && f != "Tu" {
					t.Errorf("%s: family %q", tg.Name, f)
				}
			case 3:
				if b := q.Get("birthdate"); b != "ge1915" && b != "ge1912" {
					t.Errorf("%s: birthdate %q", tg.Name, b)
				}
			case 4, 5:
				if p == nil || p.ID != "p1" {
					t.Errorf("%s: %q picks a patient without such resources", tg.Name, rel)
				}
			case 6: // only codes with enough values; threshold the rounded median
				if q.Get("code") != "http://loinc.org|2339-0" || q.Get("value-quantity") != "gt5" || q.Get("_count") != "50" {
					t.Errorf("%s: %q", tg.Name, rel)
				}
			case 7:
				if !slices.Contains(d.Patients[0].Codes, q.Get("_has:Observation:patient:code")) {
					t.Errorf("%s: %q", tg.Name, rel)
				}
			case 8:
				if p == nil || p.ID != "p2" || q.Get("_include") != "MedicationRequest:medication" {
					t.Errorf("%s: %q", tg.Name, rel)
				}
			case 9:
				if p == nil || q.Get("_summary") != "count" {
					t.Errorf("%s: %q", tg.Name, rel)
				}
			}
		}
	}
}

func TestSearchTargetsSkipQueriesTheDataCannotFill(t *testing.T) {
	d := newDataset()
	d.add([]string{"Patient/p1"}, &patientFacts{ID: "p1", Family: "Lovelace", BirthYear: 1915, Types: map[string]int{"Patient": 1}}, nil)
	targets, skipped := searchTargets(d)
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Name)
	}
	if want := []string{"Patient?family=F", "Patient?birthdate=geYYYY"}; !slices.Equal(names, want) {
		t.Errorf("targets %v, want %v", names, want)
	}
	if len(skipped) != len(searchTemplates)-2 {
		t.Errorf("skipped %v", skipped)
	}
}

func TestQueryPercentEncodesValues(t *testing.T) {
	got := query("Observation", "patient", "p 1", "code", "http://loinc.org|2339-0", "_has:Observation:patient:code", "a|b")
	want := "Observation?patient=p+1&code=http%3A%2F%2Floinc.org%7C2339-0&_has:Observation:patient:code=a%7Cb"
	if got != want {
		t.Errorf("query = %q\nwant %q", got, want)
	}
}

func TestCheckSearchsetWantsASearchsetBundle(t *testing.T) {
	tests := []struct {
		body           string
		entries, total int
		ok             bool
	}{
		{`{"resourceType":"Bundle","type":"searchset","total":7,"entry":[{},{}]}`, 2, 7, true},
		{`{"resourceType":"Bundle","type":"searchset"}`, 0, -1, true},
		{`{"resourceType":"Bundle","type":"collection","entry":[{}]}`, 0, -1, false},
		{`{"resourceType":"OperationOutcome"}`, 0, -1, false},
		{`not json`, 0, -1, false},
	}
	for _, tt := range tests {
		n, total, err := checkSearchset("", []byte(tt.body))
		if (err == nil) != tt.ok || (tt.ok && (n != tt.entries || total != tt.total)) {
			t.Errorf("checkSearchset(%s) = %d, %d, %v", tt.body, n, total, err)
		}
	}
}

func TestFamilyPrefixCountsLetters(t *testing.T) {
	for in, want := range map[string]string{"Echevarría": "Ech", "Río": "Río", "Oña": "Oña", "Núñez": "Núñ", "Li": "Li"} {
		if got := familyPrefix(in); got != want {
			t.Errorf("familyPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
