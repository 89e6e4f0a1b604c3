package fhir

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// officialRegex compiles the regex of a primitive from the embedded
// definitions, anchored, with \s and \S as Java (which wrote them) reads
// them: white space includes \v.
func officialRegex(t testing.TB, typ string) *regexp.Regexp {
	t.Helper()
	td := load().types[typ]
	if td == nil || td.regex == "" {
		t.Fatalf("no regex for %s", typ)
	}
	re := strings.NewReplacer(
		`[ \r\n\t\S]`, `[^\f\v]`, // white space other than \f and \v, or not white space
		`[^\s]`, `[^\t\n\v\f\r ]`,
		`\S`, `[^\t\n\v\f\r ]`,
		`\s`, `[\t\n\v\f\r ]`,
	).Replace(td.regex)
	return regexp.MustCompile(`^(?:` + re + `)$`)
}

// handCheck runs the hand-written check on a value as it would appear in
// JSON.
func handCheck(typ, s string) bool {
	k := primKindOf(typ)
	var v any = s
	switch k {
	case primInteger, primPositiveInt, primUnsignedInt, primDecimal:
		v = json.Number(s)
	case primBoolean:
		switch s {
		case "true":
			v = true
		case "false":
			v = false
		}
	}
	code, _ := checkPrimitive(k, v)
	return code == ""
}

// extraRules reports values the regex accepts but FHIR rejects for reasons
// the regex cannot express.
func extraRules(typ, s string) bool {
	switch typ {
	case "date", "dateTime", "instant":
		n, _ := dateLen(s)
		return n == 0 // an impossible calendar date such as 2019-02-30
	case "integer", "positiveInt", "unsignedInt":
		_, ok := parseInt32(s)
		return !ok // outside the 32-bit range
	case "base64Binary":
		return !validBase64(s) // padding inside the text, white space inside a quartet
	}
	return false
}

var primitiveSamples = map[string][]string{
	"date":         {"2020", "2020-01", "2020-01-31", "0000", "0001", "1900-02-29", "2000-02-29", "2020-13", "2020-00", "2020-1-1", "20201", "2020-01-32", "2020-04-31", "2020-01-01T10:00:00Z", ""},
	"dateTime":     {"2020", "2020-01", "2020-01-01", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00.5+14:00", "2020-01-01T10:00:00-14:00", "2020-01-01T10:00:00+14:01", "2020-01-01T10:00Z", "2020-01-01T24:00:00Z", "2020-01-01T10:00:60Z", "2020-01-01T10:00:00", "2020-01T10:00:00Z", "2020-01-01T10:00:00.Z", "2020-01-01 10:00:00Z", "2020-02-30T10:00:00Z"},
	"instant":      {"2020-01-01T10:00:00Z", "2020-01-01T10:00:00.123+01:00", "2020-01-01", "2020-01-01T10:00:00", "2020-01-01T10:00Z"},
	"time":         {"10:00:00", "23:59:60", "24:00:00", "10:00", "10:00:00.1", "10:00:00.", "10:00:00Z"},
	"decimal":      {"0", "-0", "1.5", "1.50", "01", "1.", ".5", "1e5", "1E-5", "1e", "-", "1.5e+10", "12345678901234567890.000"},
	"integer":      {"0", "-1", "2147483647", "2147483648", "-2147483648", "-2147483649", "01", "1.0", "1e2", "-0", "+1"},
	"positiveInt":  {"1", "0", "2147483647", "2147483648", "01", "-1"},
	"unsignedInt":  {"0", "1", "00", "-1", "2147483647", "2147483648"},
	"id":           {"a", "A-b.9", strings.Repeat("x", 64), strings.Repeat("x", 65), "a_b", "a b", ""},
	"code":         {"a", "a b", "a  b", " a", "a ", "a\tb", "a\nb", "\u00e9"},
	"oid":          {"urn:oid:1.2.3", "urn:oid:0.0", "urn:oid:3.1", "urn:oid:1", "urn:oid:1.02", "urn:oid:1..2", "urn:oid:1.2.", "oid:1.2"},
	"uuid":         {"urn:uuid:c4e0e2f2-0000-0000-0000-000000000000", "urn:uuid:C4E0E2F2-0000-0000-0000-000000000000", "urn:uuid:c4e0e2f2-0000-0000-0000-00000000000", "c4e0e2f2-0000-0000-0000-000000000000"},
	"uri":          {"http://x", "urn:x", "a b", "#x", "x\ty"},
	"url":          {"http://x", "a b"},
	"canonical":    {"http://x|1.0", "a b"},
	"string":       {"a", " a ", "a\nb", "a\fb", "a\vb", "\u2028"},
	"markdown":     {"# a", "a\fb"},
	"base64Binary": {"aGVsbG8=", "aGVsbG8", "aGVs bG8=", "aG=Vs", "====", "a+/=", "%%%2"},
	"boolean":      {"true", "false", "True", "1"},
}

// TestPrimitiveChecksMatchRegexes checks the hand-written primitive checks
// against the official regexes on chosen and random values: they agree
// except where FHIR rules go beyond the regex.
func TestPrimitiveChecksMatchRegexes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789-+:.TZ eE\tabcdefABCDEF/=_x|#%urn:oid:uuid:"
	for typ, samples := range primitiveSamples {
		re := officialRegex(t, typ)
		values := append([]string(nil), samples...)
		for range 3000 {
			// Mutations of the samples and random strings.
			s := []byte(samples[rng.IntN(len(samples))])
			for range rng.IntN(3) + 1 {
				switch op := rng.IntN(3); {
				case op == 0 && len(s) > 0:
					i := rng.IntN(len(s))
					s = append(s[:i], s[i+1:]...)
				case op == 1:
					i := rng.IntN(len(s) + 1)
					s = append(s[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, s[i:]...)...)
				case len(s) > 0:
					s[rng.IntN(len(s))] = alphabet[rng.IntN(len(alphabet))]
				}
			}
			values = append(values, string(s))
		}
		for _, s := range values {
			if s == "" || !utf8.ValidString(s) {
				continue // empty values are never allowed, though \S* accepts them; JSON text is UTF-8
			}
			want := re.MatchString(s)
			got := handCheck(typ, s)
			if got == want {
				continue
			}
			if want && !got && extraRules(typ, s) {
				continue
			}
			t.Errorf("%s %q: hand check %v, official regex %v", typ, s, got, want)
		}
	}
}

func TestPrimitiveChecksRejectEmptyAndWrongJSONTypes(t *testing.T) {
	for typ := range primitiveSamples {
		k := primKindOf(typ)
		if code, _ := checkPrimitive(k, ""); code == "" && k != primBoolean {
			t.Errorf("%s accepts an empty string", typ)
		}
		if code, _ := checkPrimitive(k, map[string]any{}); code == "" {
			t.Errorf("%s accepts an object", typ)
		}
	}
	if code, _ := checkPrimitive(primInteger, "1"); code != "structure" {
		t.Error("integer accepts a JSON string")
	}
	if code, _ := checkPrimitive(primDate, json.Number("2020")); code != "structure" {
		t.Error("date accepts a JSON number")
	}
}

func TestLooksLikeHTML(t *testing.T) {
	cases := map[string]bool{
		"<script>x</script>": true, "a <b>bold</b>": true, "<img src=x onerror=y>": true, "<resource type>": true,
		"a < b and c > d": false, "<5 mg>": false, "x<>y": false, "<": false, "a > b": false, "<<b>": true, "< b>": false,
	}
	for s, want := range cases {
		if got := looksLikeHTML(s); got != want {
			t.Errorf("looksLikeHTML(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCompareDateTime(t *testing.T) {
	cases := []struct {
		a, b string
		c    int
		ok   bool
	}{
		{"2020", "2021", -1, true},
		{"2020-01", "2020-01", 0, true},
		{"2020-01", "2020-01-05", 0, false},
		{"2020-01-02", "2020-01-01T23:00:00Z", 1, true},
		{"2020-01-01T10:00:00+01:00", "2020-01-01T09:00:00Z", 0, true},
		{"2020-01-01T00:30:00+01:00", "2019-12-31T23:00:00Z", 1, true},
		{"2020-03-01T00:30:00+01:00", "2020-02-29T23:40:00Z", -1, true},
		{"2020-01-01T10:00:00.5Z", "2020-01-01T10:00:00Z", 1, true},
		{"2019-12-31T23:30:00-01:00", "2020-01-01T00:15:00Z", 1, true},
	}
	for _, c := range cases {
		got, ok := compareDateTime(c.a, c.b)
		if got != c.c || ok != c.ok {
			t.Errorf("compareDateTime(%s, %s) = %d, %v; want %d, %v", c.a, c.b, got, ok, c.c, c.ok)
		}
	}
}
