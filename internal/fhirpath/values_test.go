package fhirpath

import (
	"encoding/json"
	"testing"
)

func TestSysOfConvertsFHIRPrimitives(t *testing.T) {
	cases := []struct {
		it   Item
		kind sysKind
	}{
		{Item{Value: json.Number("3"), Type: "integer"}, kInt},
		{Item{Value: json.Number("3"), Type: "decimal"}, kDec},
		{Item{Value: json.Number("3"), Type: ""}, kInt},
		{Item{Value: json.Number("3.0"), Type: ""}, kDec},
		{Item{Value: json.Number("99999999999999999999"), Type: "integer"}, kDec},
		{Item{Value: "2015-02-04", Type: "date"}, kDate},
		{Item{Value: "2015-02-04", Type: "dateTime"}, kDateTime},
		{Item{Value: "2015-02-04T10:00:00Z", Type: "instant"}, kDateTime},
		{Item{Value: "10:00:00", Type: "time"}, kTime},
		{Item{Value: "not a date", Type: "date"}, kStr},
		{Item{Value: "x", Type: "code"}, kStr},
		{Item{Value: map[string]any{"value": json.Number("1"), "code": "mg"}, Type: "Quantity"}, kQty},
		{Item{Value: map[string]any{"value": json.Number("1"), "code": "mg"}, Type: ""}, kObj},
		{Item{Type: "string", ext: map[string]any{}}, kNone},
		{Item{Value: []int{1}}, kOther},
	}
	for _, c := range cases {
		if got := sysOf(c.it).k; got != c.kind {
			t.Errorf("sysOf(%v %q) = %s, want %s", c.it.Value, c.it.Type, kindName(got), kindName(c.kind))
		}
	}
}

func TestJSONEqual(t *testing.T) {
	a := mustParse(t, `{"a": [1, "x", {"b": 1.0}], "c": true, "d": null}`)
	b := mustParse(t, `{"d": null, "c": true, "a": [1.00, "x", {"b": 1}]}`)
	c := mustParse(t, `{"d": null, "c": true, "a": ["X", 1, {"b": 1}]}`)
	if !jsonEqual(a, b, 0, false) {
		t.Error("equal documents compare unequal")
	}
	if jsonEqual(a, c, 0, false) {
		t.Error("differently ordered arrays compare equal")
	}
	if !jsonEqual(a, c, 0, true) {
		t.Error("equivalent documents (order, case) compare not equivalent")
	}
}

func TestCompareValsRejectsMixedTypes(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"1 < 'a'", "error"},
		{"@2014 < @T10:00", "error"},
		{"true < false", "error"},
		{"'a' < 'b'", "true"},
		{"1 < 1.5", "true"},
		{"@2014 < @2015-01-01T00:00:00Z", "true"},
	})
}
