package fhir

import (
	"reflect"
	"testing"
)

func TestIsSummaryElement(t *testing.T) {
	cases := []struct {
		rt, el string
		want   bool
	}{
		{"Patient", "id", true},
		{"Patient", "meta", true},
		{"Patient", "name", true},
		{"Patient", "birthDate", true},
		{"Patient", "text", false},
		{"Patient", "contact", false},
		{"Patient", "photo", false},
		{"Patient", "deceased", true},
		{"Patient", "deceasedBoolean", true},
		{"Observation", "status", true},
		{"Observation", "code", true},
		{"Observation", "value", true},
		{"Observation", "valueQuantity", true},
		{"Observation", "note", false},
		{"Observation", "nothing", false},
		{"Nothing", "id", false},
		{"HumanName", "family", false}, // not a resource
	}
	for _, c := range cases {
		if got := IsSummaryElement(c.rt, c.el); got != c.want {
			t.Errorf("IsSummaryElement(%s, %s) = %v, want %v", c.rt, c.el, got, c.want)
		}
	}
}

func TestIsElement(t *testing.T) {
	cases := []struct {
		rt, el string
		want   bool
	}{
		{"Patient", "id", true},
		{"Patient", "contained", true},
		{"Patient", "contact", true},
		{"Observation", "value", true},
		{"Observation", "valueQuantity", true},
		{"Observation", "valueFoo", false},
		{"Patient", "resourceType", false},
		{"Patient", "_birthDate", false},
		{"Patient", "name.given", false},
		{"Nothing", "id", false},
	}
	for _, c := range cases {
		if got := IsElement(c.rt, c.el); got != c.want {
			t.Errorf("IsElement(%s, %s) = %v, want %v", c.rt, c.el, got, c.want)
		}
	}
}

func mustParseResource(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := ParseResource([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSummaryKeepsSummaryElementsAndTags(t *testing.T) {
	in := mustParseResource(t, `{"resourceType":"Patient","id":"p","meta":{"versionId":"2","tag":[{"system":"s","code":"c"}]},
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
		"name":[{"family":"F"}],"birthDate":"1970","_birthDate":{"id":"b"},"photo":[{"url":"http://x"}],"contact":[{"name":{"text":"c"}}]}`)
	got := Summary(in)
	want := mustParseResource(t, `{"resourceType":"Patient","id":"p","meta":{"versionId":"2","tag":[{"system":"s","code":"c"},
		{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]},
		"name":[{"family":"F"}],"birthDate":"1970","_birthDate":{"id":"b"}}`)
	if !reflect.DeepEqual(got, want) {
		g, _ := Marshal(got)
		t.Fatalf("Summary = %s", g)
	}
	if len(in["meta"].(map[string]any)["tag"].([]any)) != 1 {
		t.Fatal("Summary modified its input")
	}
	// Summarising twice does not add a second tag.
	again := Summary(got)
	if n := len(again["meta"].(map[string]any)["tag"].([]any)); n != 2 {
		t.Fatalf("tags after a second Summary: %d", n)
	}
}

func TestSelectElementsKeepsMandatoryAndListed(t *testing.T) {
	in := mustParseResource(t, `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"t"},
		"valueQuantity":{"value":1},"note":[{"text":"n"}],"subject":{"reference":"Patient/p"}}`)
	got := SelectElements(in, []string{"value", "subject", "nothing"})
	want := mustParseResource(t, `{"resourceType":"Observation","id":"o","meta":{"tag":[
		{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]},
		"status":"final","code":{"text":"t"},"valueQuantity":{"value":1},"subject":{"reference":"Patient/p"}}`)
	if !reflect.DeepEqual(got, want) {
		g, _ := Marshal(got)
		t.Fatalf("SelectElements = %s", g)
	}
	got = SelectElements(in, []string{"valueQuantity"})
	if _, ok := got["valueQuantity"]; !ok {
		t.Fatal("valueQuantity by JSON name not kept")
	}
	if _, ok := got["note"]; ok {
		t.Fatal("note kept")
	}
}
