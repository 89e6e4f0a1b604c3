package fhirpath

import (
	"math/big"
	"testing"
)

func TestUCUMTableResolves(t *testing.T) {
	ucumAtomsOnce.Do(loadUCUMAtoms)
	for _, a := range ucumAtomSource {
		if _, ok := ucumAtoms[a[0]]; !ok {
			t.Errorf("UCUM atom %s (%s) did not resolve", a[0], a[1])
		}
	}
}

func TestUnitConversion(t *testing.T) {
	cases := []struct {
		unit   string
		factor string // in base units (m, s, g, ...)
	}{
		{"mg", "1/1000"}, {"kg", "1000"}, {"[lb_av]", "45359237/100000"}, {"cm", "1/100"}, {"m2", "1"},
		{"km/h", "5/18"}, {"mL", "1/1000000"}, {"10*3/uL", "1000000000000"}, {"mm[Hg]", "133322"},
		{"/min", "1/60"}, {"mg/dL", "10"}, {"%", "1/100"}, {"{beats}/min", "1/60"}, {"(m.s)2", "1"},
		{"[in_i]", "127/5000"}, {"wk", "604800"}, {"a", "31557600"}, {"mo", "2629800"}, {"ug", "1/1000000"},
	}
	for _, c := range cases {
		d, ok := parseUnit(c.unit)
		want, _ := new(big.Rat).SetString(c.factor)
		if !ok || d.factor.Cmp(want) != 0 {
			t.Errorf("parseUnit(%q) = %v, %v; want factor %s", c.unit, d.factor, ok, c.factor)
		}
	}
	for _, bad := range []string{"", "foo", "m/", "(m", "m{", "[s]", "m99", "m.)", "0", "m/0", "00.m"} {
		if _, ok := parseUnit(bad); ok {
			t.Errorf("parseUnit(%q) accepted", bad)
		}
	}
}
