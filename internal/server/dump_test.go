package server

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// patientNeedles collects, from Synthea bundles, every patient name part,
// identifier value, phone, email and street address line: what must never
// stand in the database files in the clear.
func patientNeedles(t *testing.T, files []string) []string {
	t.Helper()
	seen := map[string]bool{}
	add := func(v any) {
		s, ok := v.(string)
		switch {
		case !ok || len(s) < 4:
		case len(s) < 6:
			// Four or five letters occur by chance in 150 MB of ciphertext;
			// a short value is looked for as a JSON string (a body in the
			// clear would hold it so).
			seen[`"`+s+`"`] = true
		default:
			seen[s] = true
		}
	}
	each := func(v any, fn func(map[string]any)) {
		if arr, ok := v.([]any); ok {
			for _, x := range arr {
				if m, ok := x.(map[string]any); ok {
					fn(m)
				}
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fhir.ParseResource(data)
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := b["entry"].([]any)
		for _, e := range entries {
			r, _ := e.(map[string]any)["resource"].(map[string]any)
			if r["resourceType"] != "Patient" {
				continue
			}
			each(r["name"], func(n map[string]any) {
				add(n["family"])
				add(n["text"])
				for _, k := range []string{"given", "prefix", "suffix"} {
					if arr, ok := n[k].([]any); ok {
						for _, g := range arr {
							add(g)
						}
					}
				}
			})
			each(r["identifier"], func(id map[string]any) { add(id["value"]) })
			each(r["telecom"], func(tc map[string]any) { add(tc["value"]) })
			each(r["address"], func(a map[string]any) {
				if arr, ok := a["line"].([]any); ok {
					for _, l := range arr {
						add(l)
					}
				}
			})
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	return out
}

// plaintextHits scans every file of dir for the needles, ignoring ASCII
// case (a leaked normalised form is lower case), and returns the needles
// found with the file they stand in.
func plaintextHits(t *testing.T, dir string, needles []string) map[string]string {
	t.Helper()
	lower := func(b byte) byte {
		if b >= 'A' && b <= 'Z' {
			return b + 'a' - 'A'
		}
		return b
	}
	byPrefix := map[uint32][]string{}
	for _, n := range needles {
		ln := []byte(n)
		for i := range ln {
			ln[i] = lower(ln[i])
		}
		k := binary.LittleEndian.Uint32(ln[:4])
		byPrefix[k] = append(byPrefix[k], string(ln))
	}
	hits := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i := range data {
			data[i] = lower(data[i])
		}
		for i := 0; i+4 <= len(data); i++ {
			cands, ok := byPrefix[binary.LittleEndian.Uint32(data[i:])]
			if !ok {
				continue
			}
			for _, c := range cands {
				if strings.HasPrefix(string(data[i:min(len(data), i+len(c))]), c) {
					hits[c] = filepath.Base(path)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// storedHits is plaintextHits over everything a configuration stores: the
// files of the data directory and, on PostgreSQL, every row of every table
// (as PostgreSQL renders it, bytea values decoded).
func storedHits(t *testing.T, cfg Config, needles []string) map[string]string {
	t.Helper()
	hits := plaintextHits(t, cfg.DataDir, needles)
	if cfg.Storage == "" {
		return hits
	}
	db := rawDBAt(t, cfg)
	var tables []string
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	dump := filepath.Join(t.TempDir(), "dump")
	if err := os.MkdirAll(dump, 0o700); err != nil {
		t.Fatal(err)
	}
	hexes := regexp.MustCompile(`\\\\x([0-9a-f]+)`)
	for _, table := range tables {
		// Table names come from the catalog; quoted as identifiers.
		rows, err := db.Query(`SELECT t::text FROM "` + strings.ReplaceAll(table, `"`, `""`) + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, line...)
			out = append(out, '\n')
			for _, m := range hexes.FindAllStringSubmatch(line, -1) {
				if b, err := hex.DecodeString(m[1]); err == nil {
					out = append(out, b...)
					out = append(out, '\n')
				}
			}
		}
		rows.Close()
		if err := os.WriteFile(filepath.Join(dump, table), out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range plaintextHits(t, dump, needles) {
		hits[k] = "table " + v
	}
	return hits
}
