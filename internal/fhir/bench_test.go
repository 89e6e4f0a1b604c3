package fhir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// syntheaSample returns one Synthea bundle (the median-sized one of the
// first few files) and its first Patient and Observation.
func syntheaSample(b *testing.B) (bundle, patient, observation map[string]any, raw []byte) {
	b.Helper()
	dir := shareddata.Path(b, "synthea", "bundles")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		b.Fatal("no synthea bundles")
	}
	slices.Sort(files)
	raw, err = os.ReadFile(files[0])
	if err != nil {
		b.Fatal(err)
	}
	bundle, err = ParseResource(raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range bundle["entry"].([]any) {
		res := e.(map[string]any)["resource"].(map[string]any)
		switch res["resourceType"] {
		case "Patient":
			if patient == nil {
				patient = res
			}
		case "Observation":
			if observation == nil {
				observation = res
			}
		}
	}
	return bundle, patient, observation, raw
}

func benchValidate(b *testing.B, res map[string]any) {
	if issues := Validate(res); HasErrors(issues) {
		b.Fatalf("invalid: %+v", issues)
	}
	b.ReportAllocs()
	for b.Loop() {
		Validate(res)
	}
}

func BenchmarkValidateSyntheaObservation(b *testing.B) {
	_, _, obs, _ := syntheaSample(b)
	benchValidate(b, obs)
}

func BenchmarkValidateSyntheaPatient(b *testing.B) {
	_, pat, _, _ := syntheaSample(b)
	benchValidate(b, pat)
}

func BenchmarkValidateSyntheaBundle(b *testing.B) {
	bundle, _, _, raw := syntheaSample(b)
	b.SetBytes(int64(len(raw)))
	b.ReportMetric(float64(len(bundle["entry"].([]any))), "resources")
	benchValidate(b, bundle)
}

func BenchmarkParseSyntheaBundle(b *testing.B) {
	_, _, _, raw := syntheaSample(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResource(raw); err != nil {
			b.Fatal(err)
		}
	}
}
