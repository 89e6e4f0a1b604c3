// Package shareddata locates the public test data (official FHIR R4
// definitions, Synthea patients, FHIR examples, the FHIRPath suite) that
// lives beside the repository in ../shared/data (or in shared/data of a
// further ancestor folder), for tests only.
//
// Set HESTIA_SHARED_DATA to point elsewhere. When the data is absent, tests
// skip locally with a clear message; under CI=true they fail instead, so CI
// never silently loses coverage.
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the shared data folder, or skips (fails under CI) the test.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d, ok := Find(); ok {
		return d
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("shared test data not found: set HESTIA_SHARED_DATA or place it in ../shared/data beside the repository")
	}
	tb.Skip("shared test data not found (../shared/data or HESTIA_SHARED_DATA); skipping")
	return ""
}

// Path returns a file or folder inside the shared data folder.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, elem...)...)
}

// Find looks for the shared data folder without a testing.TB.
func Find() (string, bool) {
	if d := os.Getenv("HESTIA_SHARED_DATA"); d != "" {
		if isDir(d) {
			return d, true
		}
		return "", false
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", false
	}
	// file is <repo>/internal/shareddata/shareddata.go. The data is in
	// ../shared/data beside the repository; a clone placed deeper (a CI
	// work folder) finds it in the nearest ancestor that has shared/data.
	dir := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	for {
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
		if d := filepath.Join(dir, "shared", "data"); isDir(d) {
			return d, true
		}
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
