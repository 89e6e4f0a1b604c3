package fhirpath

import "testing"

func TestConversions(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"'yes'.toBoolean()", "true"},
		{"'N'.toBoolean()", "false"},
		{"'maybe'.toBoolean()", ""},
		{"0.0.toBoolean()", "false"},
		{"2.5.toBoolean()", ""},
		{"'+12'.toInteger()", "12"},
		{"'12.0'.toInteger()", ""},
		{"'99999999999999999999'.toInteger()", ""},
		{"1.5.toInteger()", ""},
		{"'-1.50'.toDecimal()", "-1.50"},
		{"'1e3'.toDecimal()", ""},
		{"true.toDecimal()", "1.0"},
		{"@2014-12-14T10:00:00Z.toString()", "2014-12-14T10:00:00Z"},
		{"@T10:00.toString()", "10:00"},
		{"1.50.toString()", "1.50"},
		{"(1 | 2).toString()", "error"},
		{"'2014-12-14T10:00:00'.toDate()", "@2014-12-14"},
		{"@2014-12-14T10:00:00.toDate()", "@2014-12-14"},
		{"@2014-12-14.toDateTime()", "@2014-12-14"},
		{"@2014-12-14.toDateTime().is(DateTime)", "true"},
		{"'2014-13'.toDate()", ""},
		{"'14:00'.toTime()", "@T14:00"},
		{"'25:00'.convertsToTime()", "false"},
		{"'5.5 \\'mg\\''.toQuantity()", "5.5 'mg'"},
		{"'5 days'.toQuantity()", "5 days"},
		{"'5 lightyears'.toQuantity()", ""},
		{"'5 \\'\\''.toQuantity()", ""},
		{"false.toQuantity()", "0.0 '1'"},
		{"{}.toInteger()", ""},
		{"{}.convertsToInteger()", ""},
	})
}
