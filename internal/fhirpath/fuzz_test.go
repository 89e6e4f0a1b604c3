package fhirpath

import (
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// fuzzPatient is a small resource exercising primitives with extensions,
// choices, contained resources and references.
const fuzzPatient = `{
  "resourceType": "Patient", "id": "p1",
  "contained": [{"resourceType": "Organization", "id": "o1", "name": "Org"}],
  "extension": [{"url": "http://example.org/e", "valueInteger": 3}],
  "active": true,
  "name": [{"use": "official", "family": "Doe", "given": ["Jane", null], "_given": [null, {"extension": [{"url": "http://example.org/x", "valueString": "x"}]}]},
           {"family": "Roe", "period": {"start": "2001-05-06", "end": "2001-05-06T10:10:10Z"}}],
  "birthDate": "1974-12-25", "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "deceasedBoolean": false,
  "multipleBirthInteger": 2,
  "managingOrganization": {"reference": "#o1"},
  "generalPractitioner": [{"reference": "Practitioner/pr1/_history/2"}, {"reference": "http://example.org/fhir/Organization/o2"}],
  "telecom": [{"system": "phone", "value": "555", "rank": 1}, {"system": "email", "value": "a@b.c"}],
  "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}, "preferred": true}]
}`

// fuzzSeeds cover the grammar and the function library.
var fuzzSeeds = []string{
	"Patient.name.given", "name.where(use = 'official').family", "Patient.birthDate < today()",
	"Patient.deceased.exists() and Patient.deceased != false", "(1 | 2 | 3).aggregate($this + $total, 0)",
	"managingOrganization.resolve().name", "generalPractitioner.where(resolve() is Practitioner)",
	"Patient.name.given.select($this.hasValue())", "birthDate.extension(%`ext-patient-birthTime`).value",
	"@2014-01-01T08:05+08:00.lowBoundary(17)", "1.587.highBoundary(2)", "4.0 'g' / 2.0 'm' = 2 'g/m'",
	"'abc'.replaceMatches('[a-b]', 'x')", "telecom.sort(-rank).value", "descendants().count()",
	"iif(active, 'a', 'b')", "-(5.5 'mg').abs()", "Patient.children().ofType(HumanName)",
	"name.family.join(',').split(',').count()", "@T10:30 + 90 minutes", "(1.2 / 1.8).round(2)",
	"'\\u0041\\t'.length()", "`Patient`.name[0].`given`", "%resource.contained.id",
	"name.repeat(period).start.toDateTime() ~ @2001-05-06", "Patient.is(DomainResource)",
	"communication.language.coding.code in ('en' | 'fr')", "{} = {}", "true implies {}",
	"multipleBirth.toString().toInteger() mod 2 div 1", "'x'.encode('base64').decode('base64')",
	"@2019-02-29", "1e3", "Patient.name.given.first() = 'P\\u0065ter'", "/* c */ 2 // d",
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	res, err := fhir.Parse([]byte(fuzzPatient))
	if err != nil {
		f.Fatal(err)
	}
	opts := []*Options{nil, {Model: miniModel(), Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src)
		if err != nil {
			if e != nil {
				t.Fatal("Compile returned an Expr with an error")
			}
			return
		}
		if e.String() != src {
			t.Fatalf("String() = %q, want %q", e.String(), src)
		}
		for _, opt := range opts {
			out, err := e.Evaluate(res, opt)
			if err != nil && out != nil {
				t.Fatal("Evaluate returned items with an error")
			}
		}
	})
}

// FuzzEvaluate evaluates seed expressions (and fuzzed ones) over fuzzed
// JSON data: the evaluator must not panic or hang on any resource shape.
func FuzzEvaluate(f *testing.F) {
	f.Add("descendants().count()", fuzzPatient)
	f.Add("Patient.name.given | birthDate.extension.value", fuzzPatient)
	f.Add("value = 1 'mg' and value.as(Quantity) < 2 'g'", `{"resourceType":"Observation","valueQuantity":{"value":1e2,"code":"mg"}}`)
	f.Add("a.b.where($this > 1).c ~ a", `{"a":[{"b":1},{"b":"2","_b":{"id":"x"}},null],"_a":[null,{"extension":[]}]}`)
	f.Add("x.resolve().id", `{"x":[{"reference":"#1"},"Patient/2",{"reference":"http://x/Foo/1/_history/2"}],"contained":[{"id":"1"}]}`)
	f.Add("children().sort($this)", `{"resourceType":"Basic","b":[3,1.5,"x",true]}`)
	opts := []*Options{nil, {Model: miniModel()}}
	f.Fuzz(func(t *testing.T, src, data string) {
		if len(data) > 1<<16 {
			return
		}
		e, err := Compile(src)
		if err != nil {
			return
		}
		v, err := fhir.Parse([]byte(data))
		if err != nil {
			return
		}
		for _, opt := range opts {
			_, _ = e.Evaluate(v, opt)
		}
	})
}
