package search

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/shareddata"
)

func syntheaResources(b *testing.B) []map[string]any {
	files, _ := filepath.Glob(shareddata.Path(b, "synthea", "bundles", "*_*.json"))
	var out []map[string]any
	for _, f := range files[:5] {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bundle, err := fhir.ParseResource(data)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range bundle["entry"].([]any) {
			out = append(out, e.(map[string]any)["resource"].(map[string]any))
		}
	}
	return out
}

// withoutPaths is the registry evaluating every expression with FHIRPath.
func withoutPaths(r *Registry) *Registry {
	c := &Registry{byType: make(map[string]map[string]*Param), model: r.model}
	for typ, ps := range r.byType {
		m := make(map[string]*Param, len(ps))
		for code, p := range ps {
			q := *p
			q.path = nil
			q.Components = append([]Component(nil), p.Components...)
			for i := range q.Components {
				q.Components[i].paths = nil
			}
			m[code] = &q
		}
		c.byType[typ] = m
	}
	return c
}

// BenchmarkExtract indexes Synthea resources with the plain-path walker
// and, for comparison, with FHIRPath only.
func BenchmarkExtract(b *testing.B) {
	res := syntheaResources(b)
	r := reg(b)
	for _, tc := range []struct {
		name string
		r    *Registry
	}{{"paths", r}, {"fhirpath", withoutPaths(r)}} {
		b.Run(tc.name, func(b *testing.B) {
			rows := 0
			for i := 0; i < b.N; i++ {
				x, err := tc.r.Extract(res[i%len(res)])
				if err != nil {
					b.Fatal(err)
				}
				rows += x.Len()
			}
			b.ReportMetric(float64(rows)/float64(b.N), "rows/resource")
		})
	}
}
