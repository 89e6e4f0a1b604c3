package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// TestCommittedDefinitionsAreCurrent regenerates the table in memory and
// compares it with the committed internal/fhir/definitions.bin.gz (after
// gunzip, so a different compressor version does not matter). Run
// `go generate ./internal/fhir` when it fails.
func TestCommittedDefinitionsAreCurrent(t *testing.T) {
	dir := shareddata.Path(t, "fhir-r4-definitions")
	want, report, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range report {
		t.Log(line)
	}
	gz, err := os.ReadFile(filepath.Join("..", "..", "definitions.bin.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("internal/fhir/definitions.bin.gz is stale (%d bytes, regenerated %d): run go generate ./internal/fhir", len(got), len(want))
	}
}
