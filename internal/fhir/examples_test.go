package fhir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// knownDefectiveExamples lists the official examples that break a rule of
// the R4 definitions themselves, with the only errors they may report.
var knownDefectiveExamples = map[string]struct {
	reason string
	errors int // how many errors, all with the same code and element
	code   string
	path   string // the Expression prefix shared by the errors
}{
	// 32 nested items (Questionnaire.item.item, defined by contentReference
	// to Questionnaire.item, where linkId is 1..1) have no linkId.
	"Questionnaire-qs1.json": {"nested items without the mandatory linkId", 32, "required", "Questionnaire.item[0].item["},
}

// TestOfficialExamplesAreValid validates every official R4 example (all
// meant to be valid) and checks that each round-trips through Marshal.
func TestOfficialExamplesAreValid(t *testing.T) {
	dir := shareddata.Path(t, "fhir-examples", "r4-examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 720 {
		t.Fatalf("found %d examples, want 720", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ParseResource(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		issues := Validate(res)
		if defect, ok := knownDefectiveExamples[name]; ok {
			n := 0
			for _, is := range issues {
				if is.Severity == "error" && is.Code == defect.code && len(is.Expression) == 1 && strings.HasPrefix(is.Expression[0], defect.path) {
					n++
				}
			}
			if n != defect.errors || !HasErrors(issues) {
				t.Errorf("%s (%s): got %d matching errors of %d issues, want %d", name, defect.reason, n, len(issues), defect.errors)
			}
			issues = nil
		}
		for _, is := range issues {
			if is.Severity == "error" || is.Severity == "fatal" {
				t.Errorf("%s: %s %s: %s", name, strings.Join(is.Expression, ","), is.Code, is.Diagnostics)
			}
		}
		out, err := Marshal(res)
		if err != nil {
			t.Errorf("%s: Marshal: %v", name, err)
			continue
		}
		again, err := ParseResource(out)
		if err != nil {
			t.Errorf("%s: reparse: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(res, again) {
			t.Errorf("%s: does not round-trip", name)
		}
	}
}
