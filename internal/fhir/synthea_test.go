package fhir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// TestSyntheaBundlesAreValid validates every Synthea patient bundle (and
// with it every resource in it): none may have an error or a warning.
func TestSyntheaBundlesAreValid(t *testing.T) {
	dir := shareddata.Path(t, "synthea", "bundles")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	examples := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ParseResource(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		for _, is := range Validate(res) {
			if is.Severity == "information" || is.Severity == "warning" {
				continue
			}
			// Group by path without indexes.
			p := strings.Join(is.Expression, ",")
			var b strings.Builder
			skip := false
			for _, r := range p {
				switch {
				case r == '[':
					skip = true
				case r == ']':
					skip = false
				case !skip:
					b.WriteRune(r)
				}
			}
			key := b.String() + " " + is.Code + ": " + is.Diagnostics
			counts[key]++
			examples[key] = filepath.Base(f) + " " + p
		}
	}
	for k, n := range counts {
		t.Errorf("%d x %s (e.g. %s)", n, k, examples[k])
	}
}
