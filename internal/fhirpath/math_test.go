package fhirpath

import "testing"

func TestMathFunctions(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"(-9223372036854775807 - 1).abs()", ""},
		{"(-1.50).abs()", "1.50"},
		{"'a'.abs()", "error"},
		{"2.5.round()", "3"},
		{"2.567.round(2)", "2.57"},
		{"2.5.round(-1)", "error"},
		{"1.5.ceiling().is(Integer)", "true"},
		{"2.power(62)", "4611686018427387904"},
		{"2.power(64)", ""},
		{"2.power(-1)", "0.5"},
		{"1.5.power(2)", "2.25"},
		{"0.ln()", ""},
		{"(-1).sqrt()", ""},
		{"2.sqrt()", "1.41421356"},
		{"1.exp()", "2.71828183"},
		{"8.log(2)", "3"},
		{"8.log(1)", ""},
		{"1000.log(10)", "3"},
		{"1.0.lowBoundary()", "0.95000000"},
		{"0.lowBoundary(1)", "-0.5"},
		{"0.highBoundary(1)", "0.5"},
		{"0.999.highBoundary(2)", "1.00"},
		{"1.5.lowBoundary({})", ""},
		{"1.5 'mg'.highBoundary()", "1.55000000 'mg'"},
		{"1.58700.precision()", "5"},
		{"'x'.lowBoundary()", "error"},
	})
}
