package fhirpath

import (
	"strings"
	"testing"
)

func TestStringFunctions(t *testing.T) {
	runCases(t, nil, nil, []evalCase{
		{"'héllo'.length()", "5"},
		{"'héllo'.substring(1, 3)", "éll"},
		{"'héllo'.substring(1, 9223372036854775807)", "éllo"},
		{"'héllo'.substring(1, -2)", ""},
		{"'héllo'.indexOf('l')", "2"},
		{"'abc'.substring(3)", ""},
		{"'abc'.substring({})", ""},
		{"'a.b.c'.replace('.', '/')", "a/b/c"},
		{"'aXbXc'.split('X').join('-')", "a-b-c"},
		{"('a' | 'b').join()", "ab"},
		{"(1 | 2).join(',')", "error"},
		{"'abc'.matches('^a')", "true"},
		{"'abc'.matchesFull('b')", "false"},
		{"'abc'.matches('b' & '$')", "false"},
		{"'abc'.matches('(')", "error"},
		{"'abc'.matches('(?=a)')", "error"},
		{"'2024-01-05'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3/$2/$1')", "05/01/2024"},
		{"' a b '.trim()", "a b"},
		{"'AbC'.upper() & 'AbC'.lower()", "ABCabc"},
		{"'ab'.toChars()", "a, b"},
		{"'ab'.encode('hex').decode('hex')", "ab"},
		{"'%%'.decode('base64')", ""},
		{"'ab'.encode('rot13')", "error"},
		{"'<a href=\"x\">'.escape('html')", "&lt;a href=&quot;x&quot;&gt;"},
		{"'a\"b\\\\c'.escape('json')", "a\\\"b\\\\c"},
		{"'\\\\u0041\\\\n'.unescape('json')", "A\n"},
		{"'\\\\x'.unescape('json')", ""},
		{"1.startsWith('1')", "error"},
		{"('a' | 'b').startsWith('a')", "error"},
		{"'abc'.startsWith({})", ""},
	})
}

func TestStringResultsAreBounded(t *testing.T) {
	big := strings.Repeat("a", maxStringLength/2+1)
	in := map[string]any{"s": big}
	for _, expr := range []string{"s + s", "s & s", "s.replace('a', 'aa')", "s.encode('hex')", "(s | 'b').join(s)"} {
		if got := evalRender(in, nil, expr); got != "error" {
			t.Errorf("%s: got %d bytes, want an error", expr, len(got))
		}
	}
}
