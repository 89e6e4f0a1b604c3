package fhirpath

import (
	"strings"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "1.50": "1.50", "+2": "2", "1e3": "1000", "1.5e-3": "0.0015", "-12.3400": "-12.3400",
		"1234567890123456789012345.678": "1234567890123456789012345.678",
	} {
		d, ok := parseDecimal(in)
		if !ok || d.String() != want {
			t.Errorf("parseDecimal(%q) = %s, %v; want %s", in, d.String(), ok, want)
		}
	}
	for _, in := range []string{"", "-", "1.", ".5", "1e", "1e99999", "abc", "1.2.3", strings.Repeat("9", maxDecimalDigits+1)} {
		if _, ok := parseDecimal(in); ok {
			t.Errorf("parseDecimal(%q) accepted", in)
		}
	}
}

func TestDecimalArithmeticIsExact(t *testing.T) {
	d := func(s string) decimal {
		v, ok := parseDecimal(s)
		if !ok {
			t.Fatalf("bad decimal %s", s)
		}
		return v
	}
	cases := []struct{ got, want string }{
		{d("0.1").add(d("0.2")).String(), "0.3"},
		{d("1.00").sub(d("0.1")).String(), "0.90"},
		{d("1.2").mul(d("1.8")).String(), "2.16"},
		{d("2.5").round(0).String(), "3"},
		{d("-2.5").round(0).String(), "-3"},
		{d("2.449").round(2).String(), "2.45"},
		{d("1.5").round(3).String(), "1.500"},
		{d("-1.5").floor().String(), "-2"},
		{d("-1.5").ceiling().String(), "-1"},
		{d("-1.5").truncate().String(), "-1"},
		{d("1.0500").trim().String(), "1.05"},
		{d("0.000").trim().String(), "0"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %s, want %s", i, c.got, c.want)
		}
	}
	if q, ok := d("1").quo(d("8")); !ok || q.String() != "0.125" {
		t.Errorf("1/8 = %s", q.String())
	}
	if _, ok := d("1").quo(d("0.0")); ok {
		t.Error("division by zero succeeded")
	}
	if i, ok := d("42.000").int64(); !ok || i != 42 {
		t.Errorf("int64(42.000) = %d, %v", i, ok)
	}
	if _, ok := d("42.5").int64(); ok {
		t.Error("int64(42.5) succeeded")
	}
}

func TestDecimalFromFloatKeepsEightPlaces(t *testing.T) {
	for f, want := range map[float64]string{2.718281828459045: "2.71828183", 4: "4", 1e-10: "0", 0.5: "0.5"} {
		d, ok := decFromFloat(f)
		if !ok || d.String() != want {
			t.Errorf("decFromFloat(%v) = %s, want %s", f, d.String(), want)
		}
	}
}
