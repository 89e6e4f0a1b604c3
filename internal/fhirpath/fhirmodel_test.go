package fhirpath

import (
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// The production Model (internal/fhir, built from the same definitions)
// must give the same results as the test Model.

func TestOfficialSuiteWithFHIRModel(t *testing.T) {
	res := runSuite(t, fhir.Model())
	t.Logf("official suite with fhir.Model(): %d passed / %d applicable", res.passed, res.total-res.skipped)
}

func TestSearchParametersWithFHIRModel(t *testing.T) {
	params := loadSearchParams(t)
	ex := loadExamples(t)
	opt := &Options{Model: fhir.Model()}
	for _, sp := range params {
		e, err := Compile(sp.Expression)
		if err != nil {
			t.Errorf("%s: %v", sp.Code, err)
			continue
		}
		for _, base := range sp.Base {
			for _, in := range ex[base] {
				if _, err := e.Evaluate(in, opt); err != nil {
					t.Errorf("search parameter %s on %s/%v: %v", sp.Code, base, in.(map[string]any)["id"], err)
				}
			}
		}
	}
}
