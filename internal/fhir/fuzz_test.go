package fhir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// FuzzValidate parses and validates arbitrary bytes: it must never panic,
// every issue must carry a severity, a code and a location, and a
// resource that parses must survive Marshal and Parse unchanged in
// validity.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Patient","id":"a","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.5,"code":"mg"},"effectivePeriod":{"start":"2020-01-01T10:00:00+14:00","end":"2020"}}`,
		`{"resourceType":"Bundle","type":"document","entry":[{"fullUrl":"http://x/Composition/1","resource":{"resourceType":"Composition","section":[{"entry":[{"reference":"Patient/1/_history/2"}]}]}}]}`,
		`{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","contained":[{}]}]}`,
		`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"javascript:x\">x</a></div>"}}`,
		`{"resourceType":"Parameters","parameter":[{"name":"x","part":[{"name":"y","resource":{"resourceType":"Bundle"}}]}]}`,
		`{"resourceType":"Questionnaire","item":[{"item":[{"item":[{"linkId":1}]}]}]}`,
	} {
		f.Add([]byte(s))
	}
	if dir, ok := shareddata.Find(); ok {
		files, _ := filepath.Glob(filepath.Join(dir, "fhir-examples", "validator-cases", "inputs", "*.json"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil && len(data) < 4<<10 {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			return
		}
		res, ok := v.(map[string]any)
		if !ok {
			return
		}
		issues := Validate(res)
		for _, is := range issues {
			if is.Severity == "" || is.Code == "" || is.Diagnostics == "" || len(is.Expression) != 1 || is.Expression[0] == "" {
				t.Fatalf("incomplete issue %+v", is)
			}
			if strings.ContainsAny(is.Expression[0], " \n") {
				t.Fatalf("odd expression %q", is.Expression[0])
			}
		}
		out, err := Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if HasErrors(Validate(again.(map[string]any))) != HasErrors(issues) {
			t.Fatal("verdict changed after a round trip")
		}
	})
}
