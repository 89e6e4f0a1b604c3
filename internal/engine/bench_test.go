package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/shareddata"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

// newBenchEngine is an engine on a fresh SQLite database; encrypted, with
// the product's keyring (a local KMS under a generated master key): sealed
// bodies, sealed key lists and blind indexes, as `hestia serve` runs it.
// Otherwise bodies and index values are stored in the clear, as in the
// benchmark-only plaintext build.
func newBenchEngine(b *testing.B, encrypted bool) *Engine {
	dir := b.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "h.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	reg, err := search.Default()
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Store: db, Registry: reg, Policy: access.Open{}, Audit: audit.Log{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	if encrypted {
		master, _, err := crypt.MasterKey(crypt.MasterConfig{KeyDir: b.TempDir(), DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		kek, err := crypt.OpenLocalKMS(dir, master, false)
		if err != nil {
			b.Fatal(err)
		}
		keys, err := crypt.NewKeyring(ctx, crypt.KeyringConfig{KEK: kek, Store: db})
		if err != nil {
			b.Fatal(err)
		}
		db.SetCipher(keys)
		cfg.Keys = keys
		cfg.Encoder = search.Keyed{Form: keys.IndexForm, Forms: keys.IndexForms}
	}
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkTransactionSynthea applies Synthea patient bundles as
// transactions (parse, validate, index, store), one after another, with
// bodies and index values in the clear and encrypted: the ratio of the two
// is the cost of encryption at rest without HTTP and TLS around it.
func BenchmarkTransactionSynthea(b *testing.B) {
	files, _ := filepath.Glob(shareddata.Path(b, "synthea", "bundles", "*_*.json"))
	if len(files) > 20 {
		files = files[:20]
	}
	var bodies [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, data)
	}
	for _, mode := range []struct {
		name      string
		encrypted bool
	}{{"clear", false}, {"encrypted", true}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newBenchEngine(b, mode.encrypted)
			ctx := access.WithPrincipal(context.Background(), access.Local())
			total := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bundle, err := fhir.ParseResource(bodies[i%len(bodies)])
				if err != nil {
					b.Fatal(err)
				}
				res, err := e.Transaction(ctx, bundle)
				if err != nil {
					b.Fatal(err)
				}
				total += len(res)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
