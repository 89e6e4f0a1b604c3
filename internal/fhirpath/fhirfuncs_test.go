package fhirpath

import "testing"

func TestResolve(t *testing.T) {
	res := mustParse(t, fuzzPatient)
	runCases(t, res, nil, []evalCase{
		{"managingOrganization.resolve().name", "Org"},
		{"managingOrganization.resolve() is Organization", "true"},
		{"generalPractitioner.resolve().id", "pr1, o2"},
		{"generalPractitioner.where(resolve() is Practitioner).reference", "Practitioner/pr1/_history/2"},
		{"generalPractitioner.where(resolve() is Organization).reference", "http://example.org/fhir/Organization/o2"},
		{"generalPractitioner.resolve() is Practitioner", "error"},
		{"'Patient/123'.resolve().id", "123"},
		{"'urn:uuid:1234'.resolve()", ""},
		{"'Foo/123'.resolve()", ""},
		{"'Patient/'.resolve()", ""},
		{"'Patient/a b'.resolve()", ""},
		{"'#'.resolve().id", "p1"},
		{"'#missing'.resolve()", ""},
		{"name.resolve()", ""},
	})
	lookup := &Options{Resolve: func(ref string) (Item, bool) {
		if ref == "Patient/1" {
			return Item{Value: map[string]any{"resourceType": "Patient", "id": "1", "gender": "female"}, Type: "Patient"}, true
		}
		return Item{}, false
	}}
	runCases(t, nil, lookup, []evalCase{
		{"'Patient/1'.resolve().gender", "female"},
		{"'Patient/1'.resolve() is Patient", "true"},
		{"'Patient/2'.resolve()", ""},
	})
}

func TestResourceOption(t *testing.T) {
	bundle := mustParse(t, `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"x","managingOrganization":{"reference":"#c"}}}],"contained":[{"resourceType":"Organization","id":"c"}]}`)
	entry := bundle.(map[string]any)["entry"].([]any)[0].(map[string]any)["resource"]
	runCases(t, entry, &Options{Resource: bundle}, []evalCase{
		{"%resource.type().name", "Bundle"},
		{"%rootResource.entry.count()", "1"},
		{"%context.id", "x"},
		{"managingOrganization.resolve().id", "c"},
	})
}

func TestPrimitiveFunctions(t *testing.T) {
	res := mustParse(t, fuzzPatient)
	runCases(t, res, &Options{Model: miniModel()}, []evalCase{
		{"birthDate.hasValue()", "true"},
		{"name.hasValue()", "false"},
		{"birthDate.getValue().is(Date)", "true"},
		{"birthDate.getValue()", "@1974-12-25"},
		{"multipleBirth.getValue() + 1", "3"},
		{"name.given[1].getValue()", ""},
		{"extension('http://example.org/e').value", "3"},
		{"birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').count()", "1"},
		{"extension({})", ""},
		{"memberOf('http://hl7.org/fhir/ValueSet/x')", ""},
		{"htmlChecks()", "true"},
	})
}

func TestVariables(t *testing.T) {
	opt := &Options{Vars: map[string][]Item{"limit": {{Value: int64(3), Type: typeInteger}}, "none": nil}}
	runCases(t, nil, opt, []evalCase{
		{"%limit + 1", "4"},
		{"%none.empty()", "true"},
		{"%other", "error"},
		{"%sct", "http://snomed.info/sct"},
		{"%loinc", "http://loinc.org"},
	})
}
