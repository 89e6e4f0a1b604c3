package fhirpath

import "testing"

func TestTypeOperators(t *testing.T) {
	res := mustParse(t, fuzzPatient)
	opt := &Options{Model: miniModel()}
	runCases(t, res, opt, []evalCase{
		{"1 is Integer", "true"},
		{"1 is System.Integer", "true"},
		{"1 is Decimal", "false"},
		{"1.0 'mg' is Quantity", "true"},
		{"1.0 'mg' is FHIR.Quantity", "false"},
		{"active is boolean", "true"},
		{"active is Boolean", "false"},
		{"active is FHIR.Element", "true"},
		{"Patient is Resource", "true"},
		{"Patient is System.Patient", "false"},
		{"Patient is Foo", "error"},
		{"name is HumanName", "error"},
		{"name.as(HumanName)", "error"},
		{"(name as HumanName).family", "Doe, Roe"},
		{"name.ofType(Element).count()", "2"},
		{"name.first().given.first().as(string)", "Jane"},
		{"telecom.system.first().as(string)", ""},
		{"telecom.system.as(code)", "error"},
		{"telecom.system.ofType(code).count()", "2"},
		{"telecom.rank.is(integer)", "true"},
		{"telecom.rank.as(integer)", ""},
		{"extension.value.ofType(integer)", "3"},
		{"1.type().name", "Integer"},
		{"Patient.type().namespace", "FHIR"},
		{"name.type().name", "HumanName, HumanName"},
		{"conformsTo('http://hl7.org/fhir/StructureDefinition/DomainResource')", "true"},
		{"conformsTo('http://hl7.org/fhir/StructureDefinition/Observation')", "false"},
		{"conformsTo('http://example.org/profile')", "error"},
	})
}

// TestBuiltinTypesMatchDefinitions checks the generated fhirTypes table
// against the R4 StructureDefinitions.
func TestBuiltinTypesMatchDefinitions(t *testing.T) {
	m := loadTestModel(t)
	for typ, base := range fhirTypes {
		if got := m.BaseType(typ); got != base {
			t.Errorf("fhirTypes[%q] = %q, definitions say %q", typ, base, got)
		}
	}
	if len(fhirTypes) != 209 {
		t.Errorf("fhirTypes has %d types, want the 209 R4 specialisations", len(fhirTypes))
	}
}
