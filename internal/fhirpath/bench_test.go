package fhirpath

import (
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// Search-index extraction evaluates about 20 compiled expressions per
// resource; these benchmarks measure typical ones on official examples.

func benchExample(b *testing.B, typ, id string) any {
	b.Helper()
	for _, r := range loadExamples(b)[typ] {
		if r.(map[string]any)["id"] == id {
			return r
		}
	}
	b.Fatalf("example %s/%s not found", typ, id)
	return nil
}

func BenchmarkEvaluate(b *testing.B) {
	model := fhir.Model() // the production Model
	obs := benchExample(b, "Observation", "example")
	pat := benchExample(b, "Patient", "example")
	cases := []struct {
		name, expr string
		input      any
	}{
		{"ObservationCode", "Observation.code", obs},
		{"SubjectResolvePatient", "Observation.subject.where(resolve() is Patient)", obs},
		{"ValueAsQuantity", "(Observation.value as Quantity)", obs},
		{"NameFamilyUnionGiven", "Patient.name.family | Patient.name.given", pat},
		{"TelecomWhereSystem", "Patient.telecom.where(system='phone')", pat},
	}
	for _, c := range cases {
		e := MustCompile(c.expr)
		for _, m := range []struct {
			name  string
			model Model
		}{{"Model", model}, {"NoModel", nil}} {
			opt := &Options{Model: m.model}
			b.Run(c.name+"/"+m.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Evaluate(c.input, opt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("Observation.subject.where(resolve() is Patient) | (Observation.value as Quantity)"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchExtraction evaluates every R4 search parameter of a
// resource type on one official example: the work of indexing one
// resource.
func BenchmarkSearchExtraction(b *testing.B) {
	params := loadSearchParams(b)
	opt := &Options{Model: fhir.Model()}
	for _, c := range []struct{ typ, id string }{{"Patient", "example"}, {"Observation", "example"}, {"Encounter", "example"}} {
		res := benchExample(b, c.typ, c.id)
		opt := *opt
		opt.Resource = res
		var exprs []*Expr
		for _, sp := range params {
			for _, base := range sp.Base {
				if base == c.typ || base == "Resource" || base == "DomainResource" {
					exprs = append(exprs, MustCompile(sp.Expression))
				}
			}
		}
		b.Run(c.typ, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range exprs {
					if _, err := e.Evaluate(res, &opt); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(exprs)), "exprs/op")
		})
	}
}
