package search

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/store"
)

func reg(t testing.TB) *Registry {
	t.Helper()
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parse(t *testing.T, typ, query string, lenient bool) (*Search, error) {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return reg(t).Parse(typ, v, Options{Lenient: lenient, Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
}

func TestParseBuildsConditions(t *testing.T) {
	s, err := parse(t, "Observation", "patient=Patient/1&code=http://loinc.org|1234-5,5678&date=ge2020-01&_sort=-date,_id&_count=5", false)
	if err != nil {
		t.Fatal(err)
	}
	q := s.Query
	if q.Count != 5 || len(q.Where) != 3 || len(q.Sort) != 2 || !q.Sort[0].Desc || q.Sort[1].Param != store.SortID {
		t.Fatalf("query %+v", q)
	}
	var code store.Clause
	for _, c := range q.Where {
		if tc, ok := c[0].(store.TokenCond); ok {
			code = c
			if tc.System == nil || *tc.System != "http://loinc.org" || tc.Code != "1234-5" {
				t.Fatalf("token %+v", tc)
			}
		}
	}
	if len(code) != 2 {
		t.Fatalf("comma must give two alternatives: %v", code)
	}
}

func TestParseRejectsBadParameters(t *testing.T) {
	cases := []struct{ typ, q string }{
		{"Patient", "shoesize=12"},
		{"Patient", "birthdate=1970-13"},
		{"Patient", "birthdate=xx1970"},
		{"Patient", "birthdate:exact=1970"},
		{"Patient", "family:not=x"},
		{"Patient", "gender:exact=male"},
		{"Patient", "family:missing=maybe"},
		{"Patient", "gender.name=x"},
		{"Observation", "subject:Robot=1"},
		{"Observation", "subject:Medication=1"},
		{"Observation", "subject.shoesize=1"},
		{"Patient", "_has:Observation:nope:code=1"},
		{"Patient", "_has:Robot:patient:code=1"},
		{"Patient", "_sort=shoesize"},
		{"Patient", "_summary=everything"},
		{"Patient", "_count=abc"},
		{"Patient", "_include=Patient:name"},
		{"Patient", "_include=Patient"},
		{"Observation", "value-quantity=abc"},
		{"Observation", "value-quantity=5|http://unitsofmeasure.org"},
		{"Observation", "code-value-quantity=http://loinc.org|1"},
		{"Patient", "_id=bad_id!"},
		{"Patient", "_text=x"},
		{"Patient", "identifier=a|b|c"},
		{"Patient", "family=" + strings.Repeat("x", MaxValueLen+1)},
		{"Observation", "subject.organization.partof.partof.name=x"},
		{"Observation", "value-quantity=5|http://unitsofmeasure.org|m%00g"},
		{"Patient", "family=a%ffb"},
	}
	for _, c := range cases {
		_, err := parse(t, c.typ, c.q, false)
		if fault.KindOf(err) != fault.Invalid {
			t.Errorf("%s?%s: error %v, want Invalid", c.typ, c.q, err)
		}
	}
}

func TestParseLenientIgnoresAndReports(t *testing.T) {
	s, err := parse(t, "Patient", "shoesize=12&family=smith&birthdate=never", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Query.Where) != 1 || len(s.Warnings) != 2 {
		t.Fatalf("where %d, warnings %d", len(s.Query.Where), len(s.Warnings))
	}
	if s.Params.Has("shoesize") || !s.Params.Has("family") {
		t.Fatalf("canonical params %v", s.Params)
	}
	for _, w := range s.Warnings {
		if strings.Contains(w.Diagnostics, "never") || strings.Contains(w.Diagnostics, "12") {
			t.Fatalf("warning echoes a value: %s", w.Diagnostics)
		}
	}
}

func TestParseTooManyParameters(t *testing.T) {
	q := strings.Repeat("family=a&", MaxParams+1)
	if _, err := parse(t, "Patient", q, true); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("error %v", err)
	}
}

func TestParseCountIsCapped(t *testing.T) {
	s, err := parse(t, "Patient", "_count=50000", false)
	if err != nil || s.Query.Count != MaxCount {
		t.Fatalf("count %d err %v", s.Query.Count, err)
	}
}

func TestChainExpandsToTargetTypesThatHaveTheParameter(t *testing.T) {
	s, err := parse(t, "Observation", "subject.name=peter", false)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range s.Query.Where[0] {
		types = append(types, c.(store.ChainCond).Types...)
	}
	// Observation.subject targets Patient, Group, Device and Location; Group
	// and Device have no "name" parameter in R4 (Device has device-name).
	if strings.Join(types, ",") != "Patient,Location" && strings.Join(types, ",") != "Location,Patient" {
		// Order follows the parameter's target list.
		if !(len(types) == 2 && contains(types, "Patient") && contains(types, "Location")) {
			t.Fatalf("chain types %v", types)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestEscapes(t *testing.T) {
	parts := splitEscaped(`a\,b,c\|d|e`, ',')
	if len(parts) != 2 || unescape(parts[0]) != "a,b" {
		t.Fatalf("%q", parts)
	}
	if got := splitEscaped(parts[1], '|'); len(got) != 2 || unescape(got[0]) != "c|d" {
		t.Fatalf("%q", got)
	}
}

// FuzzParse checks that no search query makes the parser panic, and that a
// query it accepts has bounded size.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"family=smith", "birthdate=ge1970-01-01T00:00:00Z", "code=http://loinc.org|1234", "_has:Observation:patient:code=1",
		"subject:Patient.name:exact=A", "value-quantity=ap5.4|http://unitsofmeasure.org|mg", "code-value-quantity=a|b$lt1e3",
		"_include:iterate=Patient:organization", "_sort=-date,_id", "_summary=count", "identifier:of-type=a|b|c", "name=a\\,b,c",
	} {
		f.Add("Observation", s)
		f.Add("Patient", s)
	}
	r := reg(f)
	f.Fuzz(func(t *testing.T, typ, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, lenient := range []bool{false, true} {
			s, err := r.Parse(typ, v, Options{Lenient: lenient})
			if err != nil {
				if _, ok := fault.As(err); !ok {
					t.Fatalf("error is not categorised: %v", err)
				}
				continue
			}
			if len(s.Query.Where) > MaxParams || s.Query.Count > MaxCount {
				t.Fatalf("limits exceeded: %d clauses, count %d", len(s.Query.Where), s.Query.Count)
			}
		}
	})
}

func TestParseBudgets(t *testing.T) {
	// 64 chained parameters of 64 alternatives each expand far past the
	// condition budget.
	var q []string
	for range 20 {
		var vs []string
		for i := range 64 {
			vs = append(vs, fmt.Sprintf("v%d", i))
		}
		q = append(q, "performer.name="+strings.Join(vs, ","))
	}
	if _, err := parse(t, "Observation", strings.Join(q, "&"), false); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("condition budget: %v", err)
	}
	// A wildcard include counts each parameter it names.
	if _, err := parse(t, "Patient", "_revinclude=Observation:*&_include:iterate=ExplanationOfBenefit:*&_include:iterate=Claim:*", false); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("wildcard include budget: %v", err)
	}
	// Repeated includes are kept once.
	s, err := parse(t, "Observation", "_include=Observation:subject&_include=Observation:subject", false)
	if err != nil || len(s.Query.Include) != 1 {
		t.Fatalf("duplicate includes: %v %v", s, err)
	}
}
