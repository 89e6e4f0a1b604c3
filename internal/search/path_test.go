package search

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/fhirpath"
	"github.com/hestiahealth/hestia/internal/shareddata"
	"github.com/hestiahealth/hestia/internal/store"
)

// TestPathMatchesFHIRPath checks the plain-path walker against the FHIRPath
// evaluator: on every official example and every parameter (and composite
// component) it compiles, both select the same values with the same types.
func TestPathMatchesFHIRPath(t *testing.T) {
	r := reg(t)
	compiled, total := 0, 0
	for _, typ := range fhir.ResourceTypes() {
		for _, p := range r.Params(typ) {
			if p.expr != nil {
				total++
				if p.path != nil {
					compiled++
				}
			}
		}
	}
	if compiled*10 < total*9 {
		t.Errorf("only %d of %d expressions compile to paths", compiled, total)
	}
	files, _ := filepath.Glob(shareddata.Path(t, "fhir-examples", "r4-examples", "*.json"))
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.ParseResource(data)
		if err != nil {
			t.Fatal(err)
		}
		typ := res["resourceType"].(string)
		opt := &fhirpath.Options{Model: r.model, Resource: res}
		for _, p := range r.Params(typ) {
			if p.path == nil {
				continue
			}
			want, err := p.expr.Evaluate(res, opt)
			if err != nil {
				t.Fatalf("%s %s: %v", filepath.Base(f), p.Code, err)
			}
			got := p.path.eval(res, nil)
			if !sameRows(p.Type, got, want) {
				t.Errorf("%s %s (%s):\n path     %v\n fhirpath %v", filepath.Base(f), p.Code, p.Expression, describe(got), describe(want))
			}
			checked += len(want)
			for _, it := range want {
				for _, c := range p.Components {
					pe := c.paths[it.Type]
					if pe == nil {
						continue
					}
					cw, err := c.expr.EvaluateItems([]fhirpath.Item{it}, opt)
					if err != nil {
						t.Fatal(err)
					}
					if cg := pe.eval(it.Value.(map[string]any), nil); !sameRows(c.Type, cg, cw) {
						t.Errorf("%s %s component %s: path %v, fhirpath %v", filepath.Base(f), p.Code, c.Key, describe(cg), describe(cw))
					}
				}
			}
		}
	}
	if checked < 5000 {
		t.Errorf("only %d values compared", checked)
	}
}

func describe(items []fhirpath.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s:%v", it.Type, it.Value))
	}
	return out
}

// sameRows reports whether two item lists give the same index rows: the
// walker may repeat a value that a FHIRPath union removes, and indexing
// does not care.
func sameRows(typ string, a, b []fhirpath.Item) bool {
	if typ == "composite" {
		// The composite's own items are whole elements; a FHIRPath union
		// drops ones it deems equal (1.0 = 1.00), the walker keeps them.
		for _, y := range b {
			found := false
			for _, x := range a {
				found = found || x.Type == y.Type && reflect.DeepEqual(x.Value, y.Value)
			}
			if !found {
				return false
			}
		}
		return len(a) >= len(b)
	}
	rows := func(items []fhirpath.Item) map[string]bool {
		x := &store.Index{}
		for _, it := range items {
			addValue(x, "k", typ, 0, it)
		}
		out := map[string]bool{}
		for _, r := range x.Strings {
			out[fmt.Sprint(r)] = true
		}
		for _, r := range x.Tokens {
			out[fmt.Sprint(r)] = true
		}
		for _, r := range x.References {
			out[fmt.Sprint(r)] = true
		}
		for _, r := range x.Dates {
			out[fmt.Sprint(r)] = true
		}
		for _, r := range x.Numbers {
			out[fmt.Sprint(r)] = true
		}
		for _, r := range x.Quantities {
			out[fmt.Sprint(r)] = true
		}
		for _, r := range x.URIs {
			out[fmt.Sprint(r)] = true
		}
		return out
	}
	return reflect.DeepEqual(rows(a), rows(b))
}
