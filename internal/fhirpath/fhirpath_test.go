package fhirpath

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// evalCase is one table test: an expression and its rendered result
// ("value, value" with dates as @…), or "error".
type evalCase struct {
	expr string
	want string
}

func mustParse(t testing.TB, s string) any {
	t.Helper()
	v, err := fhir.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fixedNow is the clock of the table tests.
var fixedNow = time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.FixedZone("", 3600))

func runCases(t *testing.T, input any, opt *Options, cases []evalCase) {
	t.Helper()
	if opt == nil {
		opt = &Options{Now: fixedNow}
	}
	for _, c := range cases {
		got := evalRender(input, opt, c.expr)
		if got != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.expr, got, c.want)
		}
	}
}

func evalRender(input any, opt *Options, expr string) string {
	e, err := Compile(expr)
	if err != nil {
		return "error"
	}
	items, err := e.Evaluate(input, opt)
	if err != nil {
		return "error"
	}
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = renderValue(it)
	}
	return strings.Join(s, ", ")
}

func TestEvaluateAcceptsModelValues(t *testing.T) {
	for _, c := range []struct {
		input any
		want  string
	}{
		{nil, ""},
		{map[string]any{"resourceType": "Patient", "id": "a"}, "a"},
		{[]any{map[string]any{"id": "a"}, nil, map[string]any{"id": "b"}}, "a, b"},
		{"text", ""},
	} {
		if got := evalRender(c.input, nil, "id"); got != c.want {
			t.Errorf("Evaluate(%v) = %q, want %q", c.input, got, c.want)
		}
	}
}

func TestEvaluateItemsStartsFromTypedCollection(t *testing.T) {
	e := MustCompile("$this.value + 1")
	in := []Item{{Value: map[string]any{"value": json.Number("2")}, Type: "Quantity"}}
	got, err := e.EvaluateItems(in, &Options{Model: miniModel()})
	if err != nil || len(got) != 1 || got[0].Value != json.Number("3") || got[0].Type != typeDecimal {
		t.Fatalf("EvaluateItems = %v, %v; want 3 as System.Decimal", got, err)
	}
}

func TestResultsDoNotAliasCompiledState(t *testing.T) {
	input := map[string]any{"resourceType": "Patient", "id": "a"}
	for _, expr := range []string{"'x'", "true", "1 = 1", "Patient", "%resource", "$this", "('a' | 'b').first()"} {
		e := MustCompile(expr)
		first, err := e.Evaluate(input, nil)
		if err != nil || len(first) == 0 {
			t.Fatalf("%s: %v, %v", expr, first, err)
		}
		first[0] = Item{Value: "clobbered"}
		again, _ := e.Evaluate(input, nil)
		if again[0].Value == "clobbered" {
			t.Errorf("%s: a caller's change to a result leaked into the next evaluation", expr)
		}
	}
	if got := evalRender(nil, nil, "1 = 1"); got != "true" {
		t.Errorf("shared true result was modified: %s", got)
	}
}

func TestConcurrentEvaluation(t *testing.T) {
	res := mustParse(t, fuzzPatient)
	e := MustCompile("Patient.name.where(use = 'official').given.first() & '-' & birthDate.toString()")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				got, err := e.Evaluate(res, &Options{Model: miniModel()})
				if err != nil || len(got) != 1 || got[0].Value != "Jane-1974-12-25" {
					t.Errorf("got %v, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestTruthy(t *testing.T) {
	cases := []struct {
		items         []Item
		value, define bool
	}{
		{nil, false, false},
		{[]Item{{Value: true}}, true, true},
		{[]Item{{Value: false, Type: "boolean"}}, false, true},
		{[]Item{{Value: "x"}}, true, true},
		{[]Item{{Value: true}, {Value: true}}, false, false},
		{[]Item{{Type: "boolean", ext: map[string]any{}}}, false, false},
	}
	for _, c := range cases {
		v, d := Truthy(c.items)
		if v != c.value || d != c.define {
			t.Errorf("Truthy(%v) = %v, %v; want %v, %v", c.items, v, d, c.value, c.define)
		}
	}
}

func TestCompileRejectsOversizedAndDeepExpressions(t *testing.T) {
	cases := map[string]string{
		"too long":         strings.Repeat("a.", maxExpressionLength/2) + "a",
		"too deep parens":  strings.Repeat("(", maxNesting+1) + "1" + strings.Repeat(")", maxNesting+1),
		"too many signs":   strings.Repeat("-", maxNesting+1) + "x",
		"deep functions":   strings.Repeat("a.where(", maxNesting+1) + "true" + strings.Repeat(")", maxNesting+1),
		"invalid utf8":     "'\xff'",
		"unknown function": "foo()",
		"bad arity":        "substring()",
	}
	for name, src := range cases {
		if _, err := Compile(src); err == nil {
			t.Errorf("%s: Compile accepted it", name)
		}
	}
}

func TestMustCompilePanicsOnInvalidExpression(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCompile did not panic")
		}
	}()
	MustCompile("1 +")
}

func TestErrorsCarryContextButNoData(t *testing.T) {
	secret := "Secret-Name-1234"
	res := map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": secret}}}
	for _, expr := range []string{
		"name.family.toInteger() + 'x'", "name.family.encode(name.family)", "(name.family | 'a').single()",
		"name.family.matches(name.family & '(')", "name.family < 1", "name.family.convertsToInteger() and name.family",
	} {
		_, err := MustCompile(expr).Evaluate(res, &Options{Model: miniModel()})
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error quotes data: %v", expr, err)
		}
		if !strings.HasPrefix(err.Error(), "fhirpath: evaluating") {
			t.Errorf("%s: error lacks context: %v", expr, err)
		}
	}
}

func TestWorkLimitStopsRunawayEvaluation(t *testing.T) {
	// Doubling the total 40 times: 2^40 items, or a 2^41-byte string.
	items := make([]any, 40)
	for i := range items {
		items[i] = map[string]any{}
	}
	_, err := MustCompile("%context.aggregate($total.combine($total), 1)").Evaluate(items, nil)
	if !errors.Is(err, errWorkLimit) {
		t.Errorf("doubling aggregate: err = %v, want the work limit", err)
	}
	_, err = MustCompile("%context.aggregate($total & $total, 'ab')").Evaluate(items, nil)
	if !errors.Is(err, errStringLimit) {
		t.Errorf("doubling string: err = %v, want the string limit", err)
	}
}

func TestCyclicDataDoesNotHang(t *testing.T) {
	m := map[string]any{"resourceType": "Basic"}
	m["self"] = []any{m}
	for _, expr := range []string{"descendants().count()", "repeat(self).count()", "self = self", "self ~ self"} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = MustCompile(expr).Evaluate(m, nil)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not finish", expr)
		}
	}
}
