package search

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/shareddata"
	"github.com/hestiahealth/hestia/internal/store"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Echevarría":    "echevarria",
		"JOSÉ  María ":  "jose maria",
		"Ærøskøbing":    "ærøskøbing", // letters without a decomposition stay
		"  Smith\tJr. ": "smith jr.",
		"":              "",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDateRange(t *testing.T) {
	us := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMicro()
	}
	cases := []struct{ in, lo, hi string }{
		{"2013", "2013-01-01T00:00:00Z", "2014-01-01T00:00:00Z"},
		{"2013-02", "2013-02-01T00:00:00Z", "2013-03-01T00:00:00Z"},
		{"2012-02-29", "2012-02-29T00:00:00Z", "2012-03-01T00:00:00Z"},
		{"2013-02-03T10:20", "2013-02-03T10:20:00Z", "2013-02-03T10:21:00Z"},
		{"2013-02-03T10:20:30+02:00", "2013-02-03T08:20:30Z", "2013-02-03T08:20:31Z"},
		{"2013-02-03T10:20:30.5Z", "2013-02-03T10:20:30.5Z", "2013-02-03T10:20:30.6Z"},
	}
	for _, c := range cases {
		lo, hi, err := dateRange(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if lo != us(c.lo) || hi != us(c.hi)-1 {
			t.Errorf("%s: [%d, %d], want [%d, %d]", c.in, lo, hi, us(c.lo), us(c.hi)-1)
		}
	}
	for _, bad := range []string{"", "13", "2013-13", "2013-02-30", "2013-02-03T25:00Z", "2013/02/03", "2013-02-03T10:20:30+2", "0000", "2013-02-03T10:20:30.Z", "x2013"} {
		if _, _, err := dateRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecimalRange(t *testing.T) {
	cases := []struct {
		in        string
		v, lo, hi float64
	}{
		{"100", 100, 99.5, 100.5},
		{"1.50", 1.5, 1.495, 1.505},
		{"0.02", 0.02, 0.015, 0.025},
		{"1e2", 100, 50, 150},
		{"-3", -3, -3.5, -2.5},
	}
	for _, c := range cases {
		v, lo, hi, err := decimalRange(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if v != c.v || math.Abs(lo-c.lo) > 1e-12 || math.Abs(hi-c.hi) > 1e-12 {
			t.Errorf("%s: %v [%v, %v)", c.in, v, lo, hi)
		}
	}
	for _, bad := range []string{"", "abc", "1,5", "NaN", "Inf", "0x10", "1e999"} {
		if _, _, _, err := decimalRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestExtractObservation(t *testing.T) {
	res, err := fhir.ParseResource([]byte(`{"resourceType":"Observation","id":"o","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"HR"},
		"subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2020-01-01"},
		"valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},
		"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	x, err := reg(t).Extract(res)
	if err != nil {
		t.Fatal(err)
	}
	has := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("missing %s", what)
		}
	}
	find := func(param string) (toks []store.TokenRow) {
		for _, r := range x.Tokens {
			if r.Param == param {
				toks = append(toks, r)
			}
		}
		return
	}
	has("code token", len(find("http://hl7.org/fhir/SearchParameter/clinical-code")) == 1)
	has("status token", len(find("http://hl7.org/fhir/SearchParameter/Observation-status")) == 1)
	var subject, patient bool
	for _, r := range x.References {
		subject = subject || r.Param == "http://hl7.org/fhir/SearchParameter/Observation-subject" && r.Type == "Patient" && r.ID == "p1"
		patient = patient || r.Param == "http://hl7.org/fhir/SearchParameter/clinical-patient" && r.ID == "p1"
	}
	has("subject reference", subject)
	has("patient reference", patient)
	var openDate bool
	for _, r := range x.Dates {
		openDate = openDate || r.Param == "http://hl7.org/fhir/SearchParameter/clinical-date" && r.Hi == store.MaxTime
	}
	has("open-ended date", openDate)
	var q, text bool
	for _, r := range x.Quantities {
		q = q || r.Param == "http://hl7.org/fhir/SearchParameter/Observation-value-quantity" && r.Lo == 72 && r.Code == "/min"
	}
	for _, r := range x.Strings {
		text = text || r.Param == "http://hl7.org/fhir/SearchParameter/clinical-code"+TextSuffix && r.Norm == "heart rate"
	}
	has("value quantity", q)
	has("code text", text)
	// The component composite pairs the component code with its own value only.
	groups := map[int32]bool{}
	for _, r := range x.Quantities {
		if r.Param == "http://hl7.org/fhir/SearchParameter/Observation-component-code-value-quantity#1" {
			groups[r.Group] = true
			has("component value 120", r.Lo == 120)
		}
	}
	has("component composite group", len(groups) == 1)
	for _, r := range x.Tokens {
		if r.Param == "http://hl7.org/fhir/SearchParameter/Resource-id" {
			t.Error("_id must not be indexed: it is a column")
		}
	}
}

func TestExtractEveryOfficialExample(t *testing.T) {
	r := reg(t)
	n := 0
	for _, typ := range fhir.ResourceTypes() {
		if len(r.Params(typ)) == 0 {
			t.Errorf("%s has no search parameters", typ)
		}
		n += len(r.Params(typ))
	}
	if n < 2000 {
		t.Fatalf("only %d parameters across types", n)
	}
	files, _ := filepath.Glob(shareddata.Path(t, "fhir-examples", "r4-examples", "*.json"))
	if len(files) < 700 {
		t.Fatalf("%d examples", len(files))
	}
	rows := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.ParseResource(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		x, err := r.Extract(res)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		rows += x.Len()
	}
	if rows < 10*len(files) {
		t.Errorf("%d index rows for %d examples: extraction finds too little", rows, len(files))
	}
}
