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
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/shareddata"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

func benchEngine(b *testing.B) *Engine {
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "h.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	reg, err := search.Default()
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Config{Store: db, Registry: reg, Policy: access.Open{}, Audit: audit.Log{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkTransactionSynthea applies Synthea patient bundles as
// transactions (parse, validate, index, store), one after another.
func BenchmarkTransactionSynthea(b *testing.B) {
	files, _ := filepath.Glob(shareddata.Path(b, "synthea", "bundles", "*_*.json"))
	if len(files) > 20 {
		files = files[:20]
	}
	var bodies [][]byte
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, data)
	}
	e := benchEngine(b)
	ctx := access.WithPrincipal(context.Background(), access.Local())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data := bodies[i%len(bodies)]
		bundle, err := fhir.ParseResource(data)
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
}
