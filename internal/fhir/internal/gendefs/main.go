// Command gendefs reads the official FHIR R4 (4.0.1) definition Bundles and
// writes definitions.bin.gz, the compact table that package fhir embeds.
//
// Usage (from the repository root, or through go generate in internal/fhir):
//
//	go run ./internal/fhir/internal/gendefs [-data dir] [-o file]
//
// The data folder defaults to the shared test data (HESTIA_SHARED_DATA or
// ../shared/data beside the repository), subfolder fhir-r4-definitions.
// The output defaults to internal/fhir/definitions.bin.gz.
//
// The file format is described in ../../defs.go, which decodes it.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gendefs: ")
	data := flag.String("data", "", "folder holding profiles-resources.json, profiles-types.json, search-parameters.json and valuesets.json")
	out := flag.String("o", "", "output file (default internal/fhir/definitions.bin.gz)")
	flag.Parse()

	if *data == "" {
		d, ok := shareddata.Find()
		if !ok {
			log.Fatal("shared data not found: pass -data or set HESTIA_SHARED_DATA")
		}
		*data = filepath.Join(d, "fhir-r4-definitions")
	}
	if *out == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			log.Fatal("cannot locate the source folder: pass -o")
		}
		*out = filepath.Join(filepath.Dir(file), "..", "..", "definitions.bin.gz")
	}

	raw, report, err := Generate(*data)
	if err != nil {
		log.Fatal(err)
	}
	gz, err := Compress(raw)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, gz, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "gendefs: wrote %s (%d bytes, %d uncompressed)\n", *out, len(gz), len(raw))
	for _, line := range report {
		fmt.Fprintln(os.Stderr, "gendefs: "+line)
	}
}

// Compress gzips the table deterministically (no name, no time stamp).
func Compress(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
