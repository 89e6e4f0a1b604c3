package fhir

import (
	"slices"
	"testing"
	"time"
)

func TestResourceTypesAreTheConcreteR4Types(t *testing.T) {
	rts := ResourceTypes()
	if len(rts) != 146 {
		t.Fatalf("got %d resource types, want 146", len(rts))
	}
	if !slices.IsSorted(rts) {
		t.Fatal("resource types are not sorted")
	}
	for _, want := range []string{"Patient", "Observation", "Bundle", "Binary", "Parameters", "VisionPrescription"} {
		if !slices.Contains(rts, want) || !IsResourceType(want) {
			t.Errorf("%s missing", want)
		}
	}
	for _, not := range []string{"Resource", "DomainResource", "MetadataResource", "HumanName", "string", "patient", ""} {
		if IsResourceType(not) {
			t.Errorf("IsResourceType(%q) = true", not)
		}
	}
	rts[0] = "changed"
	if ResourceTypes()[0] == "changed" {
		t.Fatal("ResourceTypes shares its slice")
	}
}

func TestIsTypeKnowsEveryKindOfType(t *testing.T) {
	for _, name := range []string{"Patient", "Resource", "DomainResource", "Element", "BackboneElement", "HumanName", "Quantity", "Age", "Extension", "code", "string", "xhtml", "positiveInt"} {
		if !IsType(name) {
			t.Errorf("IsType(%q) = false", name)
		}
	}
	for _, name := range []string{"Patient.contact", "SimpleQuantity", "MetadataResource", "Foo", ""} {
		if IsType(name) {
			t.Errorf("IsType(%q) = true", name)
		}
	}
}

func TestValidID(t *testing.T) {
	long := string(make([]byte, 65))
	cases := map[string]bool{
		"a": true, "example": true, "A-b.9": true, "1234567890123456789012345678901234567890123456789012345678901234": true,
		"": false, "bad_id": false, "bad id": false, "/foobar==": false, long: false, "é": false,
	}
	for id, want := range cases {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestSearchParamsAreTheOfficialOnes(t *testing.T) {
	sps := SearchParams()
	if len(sps) != 1375 {
		t.Fatalf("got %d search parameters, want 1375", len(sps))
	}
	if sps[0].URL != "http://hl7.org/fhir/SearchParameter/DomainResource-text" {
		t.Errorf("first parameter %s, want DomainResource-text (file order)", sps[0].URL)
	}
	counts := map[string]int{}
	for _, sp := range sps {
		counts[sp.Type]++
	}
	want := map[string]int{"token": 536, "reference": 472, "string": 133, "date": 109, "composite": 46, "uri": 45, "quantity": 27, "number": 6, "special": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d parameters, want %d", k, counts[k], n)
		}
	}

	// R4 shares birthdate between three types.
	sp, ok := SearchParamByURL("http://hl7.org/fhir/SearchParameter/individual-birthdate")
	if !ok || sp.Code != "birthdate" || sp.Type != "date" || !slices.Equal(sp.Base, []string{"Patient", "Person", "RelatedPerson"}) || sp.Expression != "Patient.birthDate | Person.birthDate | RelatedPerson.birthDate" {
		t.Errorf("individual-birthdate = %+v, %v", sp, ok)
	}

	sp, ok = SearchParamByURL("http://hl7.org/fhir/SearchParameter/Observation-code-value-quantity")
	if !ok || sp.Type != "composite" || len(sp.Component) != 2 || sp.Component[0].Definition != "http://hl7.org/fhir/SearchParameter/clinical-code" || sp.Component[1].Expression != "value.as(Quantity)" {
		t.Errorf("Observation-code-value-quantity = %+v, %v", sp, ok)
	}
	sp, ok = SearchParamByURL("http://hl7.org/fhir/SearchParameter/Observation-subject")
	if !ok || sp.Type != "reference" || !slices.Contains(sp.Target, "Patient") || !slices.Contains(sp.Target, "Group") {
		t.Errorf("Observation-subject = %+v, %v", sp, ok)
	}
	sp, ok = SearchParamByURL("http://hl7.org/fhir/SearchParameter/clinical-date")
	if !ok || !slices.Equal(sp.Comparator, []string{"eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap"}) || sp.MultipleOr != nil {
		t.Errorf("clinical-date = %+v, %v", sp, ok)
	}
	if _, ok := SearchParamByURL("http://example.org/nothing"); ok {
		t.Error("unknown URL found")
	}
}

func TestCompartmentParams(t *testing.T) {
	cases := []struct {
		compartment, rt string
		want            []string
	}{
		{"Patient", "Observation", []string{"subject", "performer"}},
		{"Patient", "Patient", []string{"link"}},
		{"Patient", "Organization", nil},
		{"Encounter", "Observation", []string{"encounter"}},
		{"Practitioner", "Encounter", []string{"practitioner", "participant"}},
		{"RelatedPerson", "Observation", []string{"performer"}},
		{"Device", "Observation", []string{"subject", "device"}},
		{"Nothing", "Observation", nil},
	}
	for _, c := range cases {
		if got := CompartmentParams(c.compartment, c.rt); !slices.Equal(got, c.want) {
			t.Errorf("CompartmentParams(%s, %s) = %v, want %v", c.compartment, c.rt, got, c.want)
		}
	}
}

func TestModelChild(t *testing.T) {
	m := Model()
	cases := []struct {
		parent, name string
		types        []string
		choice, ok   bool
	}{
		{"Patient", "contact", []string{"Patient.contact"}, false, true},
		{"Patient.contact", "name", []string{"HumanName"}, false, true},
		{"Patient", "birthDate", []string{"date"}, false, true},
		{"Patient", "id", []string{"id"}, false, true},
		{"Patient", "meta", []string{"Meta"}, false, true},
		{"Patient", "text", []string{"Narrative"}, false, true},
		{"Patient", "contained", []string{"Resource"}, false, true},
		{"Patient", "extension", []string{"Extension"}, false, true},
		{"Patient", "modifierExtension", []string{"Extension"}, false, true},
		{"Patient.contact", "id", []string{"string"}, false, true},
		{"Patient.contact", "modifierExtension", []string{"Extension"}, false, true},
		{"Patient", "deceased", []string{"boolean", "dateTime"}, true, true},
		{"Patient", "deceasedBoolean", nil, false, false},
		{"Observation", "value", []string{"Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time", "dateTime", "Period"}, true, true},
		{"Observation", "subject", []string{"Reference"}, false, true},
		{"Questionnaire", "item", []string{"Questionnaire.item"}, false, true},
		{"Questionnaire.item", "item", []string{"Questionnaire.item"}, false, true},
		{"Questionnaire.item", "linkId", []string{"string"}, false, true},
		{"Parameters.parameter", "part", []string{"Parameters.parameter"}, false, true},
		{"Bundle.entry", "resource", []string{"Resource"}, false, true},
		{"HumanName", "given", []string{"string"}, false, true},
		{"HumanName", "extension", []string{"Extension"}, false, true},
		{"Extension", "url", []string{"uri"}, false, true},
		{"Timing", "repeat", []string{"Timing.repeat"}, false, true},
		{"Timing.repeat", "bounds", []string{"Duration", "Range", "Period"}, true, true},
		{"string", "extension", []string{"Extension"}, false, true},
		{"Age", "value", []string{"decimal"}, false, true},
		{"Resource", "id", []string{"id"}, false, true},
		{"DomainResource", "text", []string{"Narrative"}, false, true},
		{"Patient", "nothing", nil, false, false},
		{"Nothing", "id", nil, false, false},
	}
	for _, c := range cases {
		types, choice, ok := m.Child(c.parent, c.name)
		if !slices.Equal(types, c.types) || choice != c.choice || ok != c.ok {
			t.Errorf("Child(%q, %q) = %v, %v, %v; want %v, %v, %v", c.parent, c.name, types, choice, ok, c.types, c.choice, c.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.Child("Patient.contact", "name") }); n != 0 {
		t.Errorf("Child allocates %v times", n)
	}
}

func TestModelBaseType(t *testing.T) {
	m := Model()
	cases := map[string]string{
		"Patient": "DomainResource", "DomainResource": "Resource", "Resource": "", "Bundle": "Resource",
		"code": "string", "string": "Element", "id": "string", "positiveInt": "integer", "Age": "Quantity",
		"Quantity": "Element", "Element": "", "BackboneElement": "Element", "Timing": "BackboneElement",
		"Patient.contact": "BackboneElement", "Timing.repeat": "Element", "Questionnaire.item": "BackboneElement",
		"Nothing": "",
	}
	for in, want := range cases {
		if got := m.BaseType(in); got != want {
			t.Errorf("BaseType(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.BaseType("Patient.contact") }); n != 0 {
		t.Errorf("BaseType allocates %v times", n)
	}
}

func TestConstraintsListInvariants(t *testing.T) {
	find := func(cs []Constraint, key string) *Constraint {
		for i := range cs {
			if cs[i].Key == key {
				return &cs[i]
			}
		}
		return nil
	}
	if c := find(Constraints("Period"), "per-1"); c == nil || c.Path != "Period" || c.Severity != "error" || c.Expression == "" || c.Human == "" || !c.Native {
		t.Errorf("Period per-1 = %+v", c)
	}
	pat := Constraints("Patient")
	if c := find(pat, "pat-1"); c == nil || c.Path != "Patient.contact" || c.Native {
		t.Errorf("Patient pat-1 = %+v", c)
	}
	if find(pat, "dom-3") == nil || find(pat, "ele-1") != nil || find(pat, "ext-1") != nil {
		t.Errorf("Patient constraints: want dom-3, no ele-1 or ext-1")
	}
	if c := find(Constraints("RiskAssessment"), "ras-2"); c == nil || c.Path != "RiskAssessment.prediction" {
		t.Errorf("ras-2 = %+v", c)
	}
	if find(Constraints("Extension"), "ext-1") == nil {
		t.Error("Extension has no ext-1")
	}
	if Constraints("Nothing") != nil {
		t.Error("constraints for an unknown type")
	}
}

func TestDefinitionsDecodeQuickly(t *testing.T) {
	// The best of a few runs, so a busy machine does not fail the test.
	var d *Definitions
	elapsed := time.Hour
	for range 5 {
		start := time.Now()
		var err error
		if d, err = decodeDefinitions(definitionsGz); err != nil {
			t.Fatal(err)
		}
		elapsed = min(elapsed, time.Since(start))
	}
	t.Logf("decoded %d types, %d tables in %v", len(d.types), len(d.tables), elapsed)
	if elapsed > 100*time.Millisecond && !testing.Short() && !raceEnabled {
		t.Errorf("decoding took %v, want < 100ms", elapsed)
	}
	if len(definitionsGz) > 2<<20 {
		t.Errorf("embedded definitions are %d bytes", len(definitionsGz))
	}
}

func BenchmarkDecodeDefinitions(b *testing.B) {
	for b.Loop() {
		if _, err := decodeDefinitions(definitionsGz); err != nil {
			b.Fatal(err)
		}
	}
}
