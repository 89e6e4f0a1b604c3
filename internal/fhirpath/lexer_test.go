package fhirpath

import (
	"strings"
	"testing"
)

func TestTokenizeClassifiesTokens(t *testing.T) {
	cases := []struct {
		src  string
		want string // kind:text pairs
	}{
		{"Patient.name", "ident:Patient sym:. ident:name"},
		{"1.abs()", "num:1 sym:. ident:abs sym:( sym:)"},
		{"1.50 'mg'", "num:1.50 str:mg"},
		{"@2014-01-02T10:20:30.5+02:00.is(DateTime)", "datetime:2014-01-02T10:20:30.5+02:00 sym:. ident:is sym:( ident:DateTime sym:)"},
		{"@2014-01T", "datetime:2014-01T"},
		{"@2014", "date:2014"},
		{"@T14:34:28.123", "time:14:34:28.123"},
		{"@T14:34:28Z", "time:14:34:28 ident:Z"},
		{"`given name`", "delim:given name"},
		{`'a\'b\u0041\n'`, "str:a'bA\n"},
		{"%`vs-x` %ucum %'s'", "const:vs-x const:ucum const:s"},
		{"$this $index $total", "special:this special:index special:total"},
		{"a<=b!=c!~d>=e", "ident:a sym:<= ident:b sym:!= ident:c sym:!~ ident:d sym:>= ident:e"},
		{"2 // line\n+ /* block */ 3", "num:2 sym:+ num:3"},
		{`'\uD83D\uDD25'`, "str:🔥"},
	}
	names := map[tokenKind]string{tIdent: "ident", tDelimIdent: "delim", tString: "str", tNumber: "num", tDate: "date",
		tDateTime: "datetime", tTime: "time", tSymbol: "sym", tSpecial: "special", tConstant: "const"}
	for _, c := range cases {
		toks, err := tokenize(c.src)
		if err != nil {
			t.Errorf("tokenize(%q): %v", c.src, err)
			continue
		}
		var got []string
		for _, tk := range toks[:len(toks)-1] {
			got = append(got, names[tk.kind]+":"+tk.text)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("tokenize(%q)\n got  %s\n want %s", c.src, strings.Join(got, " "), c.want)
		}
	}
}

func TestTokenizeRejectsMalformedInput(t *testing.T) {
	for _, src := range []string{"'open", "`open", "/* open", `'\q'`, `'\u12'`, "$that", "%", "% x", "#", "@20", "@T1", "'\\"} {
		if _, err := tokenize(src); err == nil {
			t.Errorf("tokenize(%q) succeeded", src)
		}
	}
}

func TestSyntaxErrorsNameTheOffset(t *testing.T) {
	_, err := Compile("name.given +")
	if err == nil || !strings.Contains(err.Error(), "offset 12") {
		t.Errorf("error = %v, want one at offset 12", err)
	}
}
