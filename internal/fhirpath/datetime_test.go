package fhirpath

import "testing"

func TestParseDateTimeForms(t *testing.T) {
	valid := map[string]string{
		"2015": "2015", "2015-02": "2015-02", "2015-02-04": "2015-02-04", "2015T": "2015", "2015-02-04T": "2015-02-04",
		"2015-02-04T14": "2015-02-04T14", "2015-02-04T14:34": "2015-02-04T14:34",
		"2015-02-04T14:34:28.1234567891Z": "2015-02-04T14:34:28.123456789Z",
		"2015-02-04T14:34:28-05:30":       "2015-02-04T14:34:28-05:30", "2015-02-04T14:34:28.5+00:00": "2015-02-04T14:34:28.500Z",
	}
	for in, want := range valid {
		dt, ok := parseDateTime(in)
		if !ok || dt.String() != want {
			t.Errorf("parseDateTime(%q) = %s, %v; want %s", in, dt.String(), ok, want)
		}
	}
	for _, in := range []string{"15", "2015-13", "2015-02-29", "2015-02-04T24:00", "2015-02-04T14:60",
		"2015-02-04T14:34:28+15:00", "2015-02-04 14:34", "2015-02-04T14:34:28Z+", "2015-02T10", "2015-02-04T14:34:28.Z"} {
		if _, ok := parseDateTime(in); ok {
			t.Errorf("parseDateTime(%q) accepted", in)
		}
	}
	if _, ok := parseDate("2015-02-04T10"); ok {
		t.Error("parseDate accepted a time")
	}
	if tm, ok := parseTime("14:34:28.123"); !ok || tm.String() != "14:34:28.123" {
		t.Errorf("parseTime = %v, %v", tm, ok)
	}
}

func TestCompareDateTime(t *testing.T) {
	cases := []struct {
		a, b string
		cmp  int
		ok   bool
	}{
		{"2015", "2016-01", -1, true},
		{"2015-01", "2015-01-05", 0, false},
		{"2015-01-05T10:00:00Z", "2015-01-05T11:00:00+01:00", 0, true},
		{"2015-01-05T10:00:00Z", "2015-01-05T10:00:00", 0, false},
		{"2015-01-05T10:00:00Z", "2015-01-07T10:00:00", -1, true},
		{"2015-01-05T10:00:00", "2015-01-05T10:00:00.000", 0, true},
		{"2015-01-05T10:00:00", "2015-01-05T10:00", 0, false},
		{"2015-01-05", "2015-01-05T23:00:00+14:00", 0, false},
	}
	for _, c := range cases {
		a, _ := parseDateTime(c.a)
		b, _ := parseDateTime(c.b)
		cmp, ok := compareDateTime(a, b)
		if cmp != c.cmp || ok != c.ok {
			t.Errorf("compare(%s, %s) = %d, %v; want %d, %v", c.a, c.b, cmp, ok, c.cmp, c.ok)
		}
	}
}

func TestDateTimeFunctions(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"now()", "@2026-03-04T05:06:07.890+01:00"},
		{"today()", "@2026-03-04"},
		{"timeOfDay()", "@T05:06:07.890"},
		{"now() = now()", "true"},
		{"today() < now()", ""},
		{"@2014-01-01T08.highBoundary()", "@2014-01-01T08:00:59.999-12:00"},
		{"@2014-02.highBoundary()", "@2014-02-28"},
		{"@2016-02.highBoundary(8)", "@2016-02-29"},
		{"@2014.lowBoundary(8)", "@2014-01-01"},
		{"@2014.lowBoundary(5)", ""},
		{"@T10.highBoundary(6)", "@T10:59:59"},
		{"@2014-01-01T08:05:06.123.precision()", "17"},
		{"@T10.precision()", "2"},
	})
}
