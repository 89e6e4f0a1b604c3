package fhirpath

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/shareddata"
)

// Every FHIRPath expression of the official R4 SearchParameters compiles,
// and evaluates without error against every official example of its base
// resource types, with and without a Model.

type searchParam struct {
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Expression string   `json:"expression"`
}

func loadSearchParams(t testing.TB) []searchParam {
	t.Helper()
	data, err := os.ReadFile(shareddata.Path(t, "fhir-r4-definitions", "search-parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			Resource searchParam `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	var out []searchParam
	for _, e := range b.Entry {
		if e.Resource.Expression != "" {
			out = append(out, e.Resource)
		}
	}
	return out
}

var (
	examplesOnce sync.Once
	examples     map[string][]any // resourceType -> parsed examples
	examplesErr  error
)

// loadExamples parses the official R4 examples once, by resource type.
func loadExamples(t testing.TB) map[string][]any {
	t.Helper()
	dir := shareddata.Path(t, "fhir-examples", "r4-examples")
	examplesOnce.Do(func() {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			examplesErr = err
			return
		}
		sort.Strings(files)
		examples = map[string][]any{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				examplesErr = err
				return
			}
			v, err := fhir.Parse(data)
			if err != nil {
				examplesErr = err
				return
			}
			rt := resourceTypeOf(v)
			examples[rt] = append(examples[rt], v)
		}
	})
	if examplesErr != nil {
		t.Fatalf("loading examples: %v", examplesErr)
	}
	return examples
}

func TestSearchParameterExpressions(t *testing.T) {
	params := loadSearchParams(t)
	ex := loadExamples(t)
	model := loadTestModel(t)
	distinct := map[string]bool{}
	evaluations, nonEmpty := 0, 0
	for _, sp := range params {
		distinct[sp.Expression] = true
		e, err := Compile(sp.Expression)
		if err != nil {
			t.Errorf("search parameter %s: %v", sp.Code, err)
			continue
		}
		for _, base := range sp.Base {
			var inputs []any
			if base == "Resource" || base == "DomainResource" {
				for _, list := range ex {
					inputs = append(inputs, list...)
				}
			} else {
				inputs = ex[base]
			}
			for _, in := range inputs {
				for _, m := range []Model{model, nil} {
					got, err := e.Evaluate(in, &Options{Model: m})
					evaluations++
					if err != nil {
						t.Errorf("search parameter %s on %s/%v (model %v): %v", sp.Code, base, in.(map[string]any)["id"], m != nil, err)
						continue
					}
					if len(got) > 0 {
						nonEmpty++
					}
				}
			}
		}
	}
	t.Logf("%d search parameters, %d distinct expressions, %d evaluations, %d non-empty", len(params), len(distinct), evaluations, nonEmpty)
	if len(distinct) < 1340 {
		t.Errorf("only %d distinct expressions: is search-parameters.json complete?", len(distinct))
	}
}

// TestSearchParameterResults spot-checks values search indexing relies on.
func TestSearchParameterResults(t *testing.T) {
	ex := loadExamples(t)
	model := loadTestModel(t)
	find := func(typ, id string) any {
		for _, r := range ex[typ] {
			if r.(map[string]any)["id"] == id {
				return r
			}
		}
		t.Fatalf("example %s/%s not found", typ, id)
		return nil
	}
	cases := []struct {
		expr  string
		input any
		want  []string // rendered values
		typ   string   // type of the first item
	}{
		{"Patient.birthDate", find("Patient", "example"), []string{"@1974-12-25"}, "date"},
		{"Patient.name.family | Patient.name.given", find("Patient", "example"), []string{"Chalmers", "Windsor", "Peter", "James", "Jim"}, "string"},
		{"Observation.subject.where(resolve() is Patient)", find("Observation", "example"), []string{`{"reference":"Patient/example"}`}, "Reference"},
		{"(Observation.value as Quantity)", find("Observation", "example"), []string{`{"code":"[lb_av]","system":"http://unitsofmeasure.org","unit":"lbs","value":185}`}, "Quantity"},
		{"Observation.code.coding.code", find("Observation", "example"), []string{"29463-7", "3141-9", "27113001", "body-weight"}, "code"},
		{"Patient.deceased.exists() and Patient.deceased != false", find("Patient", "example"), []string{"false"}, "System.Boolean"},
		{"Condition.onset.as(dateTime) | Condition.onset.as(Period)", find("Condition", "example"), []string{"@2012-05-24"}, "dateTime"},
	}
	for _, c := range cases {
		for _, m := range []Model{model, nil} {
			got, err := MustCompile(c.expr).Evaluate(c.input, &Options{Model: m})
			if err != nil {
				t.Errorf("%s: %v", c.expr, err)
				continue
			}
			var vals []string
			for _, it := range got {
				vals = append(vals, strings.TrimPrefix(renderValue(it), "@"))
			}
			if strings.Join(vals, "|") != strings.ReplaceAll(strings.Join(c.want, "|"), "@", "") {
				t.Errorf("%s (model %v) = %v, want %v", c.expr, m != nil, vals, c.want)
			}
			if m != nil && len(got) > 0 && got[0].Type != c.typ {
				t.Errorf("%s: type %q, want %q", c.expr, got[0].Type, c.typ)
			}
		}
	}
}

// TestSearchParametersInferenceMatchesModel checks that inference without
// a Model finds the same values as the Model on every official example.
func TestSearchParametersInferenceMatchesModel(t *testing.T) {
	ex := loadExamples(t)
	model := loadTestModel(t)
	render := func(items []Item) string {
		s := make([]string, len(items))
		for i, it := range items {
			s[i] = strings.TrimPrefix(renderValue(it), "@")
		}
		return strings.Join(s, " | ")
	}
	for _, sp := range loadSearchParams(t) {
		e := MustCompile(sp.Expression)
		for _, base := range sp.Base {
			for _, in := range ex[base] {
				a, err1 := e.Evaluate(in, &Options{Model: model})
				b, err2 := e.Evaluate(in, nil)
				if err1 != nil || err2 != nil {
					continue // reported by TestSearchParameterExpressions
				}
				if ra, rb := render(a), render(b); ra != rb {
					t.Errorf("%s on %s/%v:\n with model    %.200s\n without model %.200s", sp.Code, base, in.(map[string]any)["id"], ra, rb)
				}
			}
		}
	}
}
