package fhirpath

import "testing"

func TestQuantityComparison(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"1 '[lb_av]' > 450 'g'", "true"},
		{"1 week = 7 'd'", "true"},
		{"1 'wk' = 7 days", "true"},
		{"1 year = 12 months", "true"},
		{"1 year = 1 'a'", ""},
		{"1 'a' = 12 'mo'", "true"},
		{"36 '[degF]' = 36 '[degF]'", "true"},
		{"1 'foo' = 1 'bar'", ""},
		{"1 'cm' < 1 's'", ""},
		{"1 'mg'.comparable(1 'kg')", "true"},
		{"4 'g' ~ 4040 'mg'", "true"},
		{"4.0 'g' ~ 4040 'mg'", "true"},
		{"4.00 'g' ~ 4040 'mg'", "false"},
		{"1 'g'.toQuantity('mg')", "1000 'mg'"},
		{"1 'g'.toQuantity('s')", ""},
		{"5 'km'.toQuantity('m')", "5000 'm'"},
		{"0 '0' + 0 '1'", "error"}, // '0' is not a unit (found by fuzzing)
		{"1 '0' = 1 '0'", "true"},
	})
}

func TestFHIRQuantityConversion(t *testing.T) {
	cases := []struct {
		json string
		want string
	}{
		{`{"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}`, "185 '[lb_av]'"},
		{`{"value": 5, "unit": "tablets", "system": "http://example.org", "code": "TAB"}`, "5 'tablets'"},
		{`{"value": 5, "system": "http://example.org", "code": "TAB"}`, "5 'TAB'"},
		{`{"value": 5.0}`, "5.0 '1'"},
		{`{"unit": "mg"}`, ""},
	}
	for _, c := range cases {
		q, ok := quantityFromMap(mustParse(t, c.json).(map[string]any))
		got := ""
		if ok {
			got = q.String()
		}
		if got != c.want {
			t.Errorf("quantityFromMap(%s) = %q, want %q", c.json, got, c.want)
		}
	}
}
