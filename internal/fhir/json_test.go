package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRejectsMalformedJSON(t *testing.T) {
	cases := map[string]string{
		"duplicate key":       `{"a":1,"a":2}`,
		"invalid utf8":        "{\"a\":\"\xff\"}",
		"trailing content":    `{} {}`,
		"unterminated":        `{"a":"b`,
		"leading zero":        `{"a":01}`,
		"lone surrogate":      `{"a":"\ud800"}`,
		"low surrogate first": `{"a":"\udc00\ud800"}`,
		"bare word":           `{"a":nul}`,
		"control char":        "{\"a\":\"x\ny\"}",
		"escaped NUL":         `{"a":"x\u0000y"}`,
		"comment":             `{"a":1 /* c */}`,
		"trailing comma":      `{"a":1,}`,
		"empty":               ``,
		"too deep":            strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		"number too long":     `{"a":1` + strings.Repeat("0", MaxNumberLen) + `}`,
		"too many values":     "[" + strings.Repeat("{},", MaxValues) + "{}]",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want *SyntaxError", in, err)
			}
		})
	}
}

func TestParseKeepsDecimalText(t *testing.T) {
	v, err := Parse([]byte(`{"value":1.50,"big":12345678901234567890.000,"e":1e-7}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["value"] != json.Number("1.50") || m["big"] != json.Number("12345678901234567890.000") || m["e"] != json.Number("1e-7") {
		t.Fatalf("numbers changed: %v", m)
	}
	out, _ := Marshal(v)
	if !bytes.Contains(out, []byte(`"value":1.50`)) {
		t.Fatalf("Marshal lost precision: %s", out)
	}
}

func TestParseAcceptsNestingAtTheLimit(t *testing.T) {
	in := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Parse([]byte(in)); err != nil {
		t.Fatalf("depth %d rejected: %v", MaxDepth, err)
	}
}

func TestMarshalPutsResourceTypeFirst(t *testing.T) {
	v, err := Parse([]byte(`{"b":1,"meta":{"versionId":"1"},"id":"x","resourceType":"Patient","a":[true,null,"s\u003c"]}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"x","meta":{"versionId":"1"},"a":[true,null,"s\u003c"],"b":1}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

func TestParseStringEscapes(t *testing.T) {
	v, err := Parse([]byte(`"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`))
	if err != nil {
		t.Fatal(err)
	}
	if v != "a\"\\/\b\f\n\r\té😀" {
		t.Fatalf("got %q", v)
	}
}

// FuzzParse checks Parse against encoding/json: whatever Parse accepts,
// encoding/json accepts with the same value, and Marshal round-trips it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"resourceType":"Patient","id":"a","name":[{"family":"Ω"}]}`, `[1,2.50,-3e4]`, `"\u00e9"`, `{"a":{"b":[null,true,false]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			return
		}
		var std any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("Parse accepted what encoding/json rejects: %v", err)
		}
		if !reflect.DeepEqual(v, std) {
			t.Fatalf("Parse and encoding/json disagree:\n%#v\n%#v", v, std)
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		v2, err := Parse(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip changed the value")
		}
	})
}
