// Command auditgen fills a data directory's audit log with synthetic
// records, to benchmark the audit log at scale (inclusion proofs on a log
// of 10 million leaves, audit verify):
//
//	go run ./bench/auditgen -data DIR -records 10000000
//	hestia serve --data DIR &     # then: go run ./bench -phases proof …
//
// Records are envelopes (store.PackAuditRecord) of random bytes of the size
// of a sealed audit event: they hash and prove like real ones but open to
// nothing. Appended to an existing log, they follow its records.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

func main() {
	dir := flag.String("data", "", "data directory (created if needed)")
	n := flag.Int("records", 10_000_000, "records to append")
	size := flag.Int("size", 300, "bytes per record")
	batch := flag.Int("batch", 20_000, "records per transaction")
	flag.Parse()
	if *dir == "" {
		log.Fatal("auditgen: -data is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	if err := os.Chmod(*dir, 0o700); err != nil { // hestia serves private folders only
		log.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(*dir, "hestia.db"), Synchronous: "NORMAL"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	rng := rand.NewChaCha8([32]byte{})
	start := time.Now()
	recs := make([][]byte, 0, *batch)
	for done := 0; done < *n; {
		recs = recs[:0]
		for len(recs) < *batch && done+len(recs) < *n {
			body := make([]byte, *size)
			rng.Read(body)
			rec, err := store.PackAuditRecord(nil, body)
			if err != nil {
				log.Fatal(err)
			}
			recs = append(recs, rec)
		}
		if _, err := db.AppendAudit(ctx, recs...); err != nil {
			log.Fatal(err)
		}
		done += len(recs)
		if done%1_000_000 < *batch {
			fmt.Fprintf(os.Stderr, "auditgen: %d records, %.0f/s\n", done, float64(done)/time.Since(start).Seconds())
		}
	}
	total, root := db.AuditHead()
	fmt.Printf("audit log: %d records, root %x, appended %d in %s\n", total, root, *n, time.Since(start).Round(time.Second))
}
