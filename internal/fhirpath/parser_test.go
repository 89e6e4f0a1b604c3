package fhirpath

import "testing"

func TestPrecedenceAndAssociativity(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"1 + 2 * 3", "7"},
		{"(1 + 2) * 3", "9"},
		{"10 - 4 - 3", "3"},
		{"2 * 3 mod 4", "2"},
		{"-2.abs()", "-2"},
		{"(-2).abs()", "2"},
		{"- -3", "3"},
		{"+4", "4"},
		{"1 | 2 = 1 | 2", "true"},
		{"(1 | 1 is Integer).count()", "2"},
		{"true or false and false", "true"},
		{"false implies false or true", "true"},
		{"true xor true or true", "true"},
		{"'a' & 'b' + 'c'", "abc"},
		{"2 in 1 | 2 and true", "true"},
		{"1 < 2 = true", "true"},
		{"(1|2|3)[1]", "2"},
		{"(1|2|3)[1 + 1]", "3"},
	})
}

func TestLiterals(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"{}", ""},
		{"true", "true"},
		{"'it''s'", "error"},
		{"'it\\'s'", "it's"},
		{"123", "123"},
		{"1.50", "1.50"},
		{"-1.50", "-1.50"},
		{"9223372036854775807", "9223372036854775807"},
		{"9223372036854775808", "error"},
		{"@2015-02-04", "@2015-02-04"},
		{"@2015-02-30", "error"},
		{"@2016-02-29", "@2016-02-29"},
		{"@2015-02-04T14:34:28.123Z", "@2015-02-04T14:34:28.123Z"},
		{"@2015-02-04T25", "error"},
		{"@T14:34", "@T14:34"},
		{"4 days", "4 days"},
		{"10.5 'mg'", "10.5 'mg'"},
		{"-10.5 'mg'", "-10.5 'mg'"},
		{"%ucum", "http://unitsofmeasure.org"},
		{"%`vs-administrative-gender`", "http://hl7.org/fhir/ValueSet/administrative-gender"},
		{"%`ext-patient-birthTime`", "http://hl7.org/fhir/StructureDefinition/patient-birthTime"},
		{"%undefined", "error"},
	})
}

func TestCompileChecksCalls(t *testing.T) {
	for src, ok := range map[string]bool{
		"where()":                  false,
		"where(true, false)":       false,
		"iif(true, 1)":             true,
		"iif(true)":                false,
		"is(Patient)":              true,
		"ofType(FHIR.`Patient`)":   true,
		"ofType(1)":                false,
		"ofType(Foo.Patient)":      false,
		"x is Foo.Bar":             false,
		"matches('(')":             false,
		"matches(%x)":              true,
		"sort(-$this, name)":       true,
		"and":                      false,
		"a.and":                    false,
		"a.`and`":                  true,
		"a.contains('x')":          true,
		"a.true":                   false,
		"1 +":                      false,
		"(1":                       false,
		"a[1":                      false,
		"{1}":                      false,
		"a b":                      false,
		"Patient.name.given.first": true,
	} {
		_, err := Compile(src)
		if (err == nil) != ok {
			t.Errorf("Compile(%q) error = %v, want ok=%v", src, err, ok)
		}
	}
}

func TestExprStringReturnsSource(t *testing.T) {
	src := "Patient.name /* c */ .given"
	if got := MustCompile(src).String(); got != src {
		t.Errorf("String() = %q", got)
	}
}
