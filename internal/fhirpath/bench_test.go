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
