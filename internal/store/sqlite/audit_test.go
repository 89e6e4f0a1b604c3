package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/store"
)

// Records appended by concurrent callers, in batches with jobs that roll
// back, form one log: each committed record once, none of a rolled-back
// job, a root that a fresh tree over the stored records reproduces, proofs
// from the stored nodes, and the same log after reopening.
func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hestia.db")
	db, err := Open(ctx, Config{Path: path, Synchronous: "NORMAL", BatchWindow: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("rolled back")
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 4 {
				rec := []byte(fmt.Sprintf("record %d/%d", g, k))
				if _, err := db.AppendAudit(ctx, rec); err != nil {
					t.Error(err)
				}
				// A job that appends and then fails: its record must not stay.
				err := db.Update(ctx, func(tx store.Tx) error {
					tx.AppendAudit([]byte(fmt.Sprintf("rolled back %d/%d", g, k)))
					return errRollback
				})
				if !errors.Is(err, errRollback) {
					t.Errorf("failing job: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	size, root := db.AuditHead()
	if size != 160 {
		t.Fatalf("log size %d, want 160", size)
	}
	check := func(db *DB, size uint64, root []byte) {
		t.Helper()
		fresh, seen := tlog.Empty(), map[string]bool{}
		var records [][]byte
		err := db.AuditRecords(ctx, 0, size, func(i uint64, rec []byte) error {
			if i != uint64(len(records)) {
				return fmt.Errorf("record %d after %d", i, len(records))
			}
			if bytes.HasPrefix(rec, []byte("rolled back")) || seen[string(rec)] {
				return fmt.Errorf("record %d: %q", i, rec)
			}
			seen[string(rec)] = true
			records = append(records, rec)
			fresh.Append(rec, func(tlog.NodeID, []byte) {})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(records)) != size || !bytes.Equal(fresh.Root(), root) {
			t.Fatalf("%d records; root %x, a fresh tree over them %x", len(records), root, fresh.Root())
		}
		for _, i := range []uint64{0, 1, size / 2, size - 1} {
			p, err := tlog.Inclusion(ctx, db.AuditNodes(), i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.VerifyInclusion(records[i], i, size, p, root); err != nil {
				t.Fatalf("inclusion of %d: %v", i, err)
			}
		}
	}
	check(db, size, root)
	db.Close()

	db, err = Open(ctx, Config{Path: path, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s2, r2 := db.AuditHead(); s2 != size || !bytes.Equal(r2, root) {
		t.Fatalf("reopened: size %d root %x, want %d %x", s2, r2, size, root)
	}
	if i, err := db.AppendAudit(ctx, []byte("after reopening"), []byte("and one more")); err != nil || i != size {
		t.Fatalf("append after reopening: index %d, %v", i, err)
	}
	s3, r3 := db.AuditHead()
	check(db, s3, r3)
	p, err := tlog.Consistency(ctx, db.AuditNodes(), size, s3)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(size, s3, p, root, r3); err != nil {
		t.Fatalf("consistency %d → %d: %v", size, s3, err)
	}
}

// A write and its audit record commit together or not at all.
func TestAuditRecordCommitsWithItsWrite(t *testing.T) {
	ctx := context.Background()
	db := openAuditDB(t)
	write := func(id string, fail bool) error {
		return db.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put(&store.Write{Type: "Patient", ID: id, Version: 1, Updated: time.Now(), Body: []byte("{}")}); err != nil {
				return err
			}
			tx.AppendAudit([]byte("create Patient/" + id))
			if fail {
				return errors.New("refused after the write")
			}
			return nil
		})
	}
	if err := write("kept", false); err != nil {
		t.Fatal(err)
	}
	if err := write("dropped", true); err == nil {
		t.Fatal("the failing write succeeded")
	}
	if size, _ := db.AuditHead(); size != 1 {
		t.Fatalf("audit log size %d, want 1", size)
	}
	if _, err := db.Read(ctx, "Patient", "dropped"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the rolled-back write is readable: %v", err)
	}
	var got []string
	db.AuditRecords(ctx, 0, 10, func(_ uint64, rec []byte) error { got = append(got, string(rec)); return nil })
	if len(got) != 1 || got[0] != "create Patient/kept" {
		t.Fatalf("audit records %q", got)
	}
}

// When the audit rows of a batch cannot be written, the batch fails as a
// whole, its writes included, and the log is unchanged (fail closed).
func TestAuditFailureFailsTheBatch(t *testing.T) {
	ctx := context.Background()
	db := openAuditDB(t)
	if _, err := db.AppendAudit(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	size, root := db.AuditHead()
	// A row where the next record goes: its insert will fail.
	if _, err := db.wconn.ExecContext(ctx, `INSERT INTO audit_record (idx, record) VALUES (?, ?)`, size, []byte("squatter")); err != nil {
		t.Fatal(err)
	}
	err := db.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(&store.Write{Type: "Patient", ID: "p", Version: 1, Updated: time.Now(), Body: []byte("{}")}); err != nil {
			return err
		}
		tx.AppendAudit([]byte("create Patient/p"))
		return nil
	})
	if err == nil {
		t.Fatal("a write whose audit record failed succeeded")
	}
	if _, err := db.Read(ctx, "Patient", "p"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the write of the failed batch is readable: %v", err)
	}
	if s, r := db.AuditHead(); s != size || !bytes.Equal(r, root) {
		t.Fatalf("log moved to size %d after a failed batch", s)
	}
}

// BenchmarkAppendAudit appends 512-byte records from parallel callers, one
// record per call, each returning once durable (synchronous=FULL): the
// rate at which audited reads could be answered on this store alone.
func BenchmarkAppendAudit(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "hestia.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rec := bytes.Repeat([]byte{0xa5}, 512)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.AppendAudit(ctx, rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// tlog.Verify over the stored log passes it, and names the record an
// edit of the database file changed or removed.
func TestVerifyStoredAuditLog(t *testing.T) {
	ctx := context.Background()
	db := openAuditDB(t)
	for i := range 50 {
		if _, err := db.AppendAudit(ctx, []byte(fmt.Sprintf("record %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	size, root := db.AuditHead()
	rep, err := tlog.Verify(ctx, db.AuditLog, db.AuditNodes(), nil)
	if err != nil || rep.Size != size || !bytes.Equal(rep.Root, root) {
		t.Fatalf("sound log: %+v %v", rep, err)
	}
	for _, edit := range []struct {
		sql  string
		want uint64
	}{
		{`UPDATE audit_record SET record = x'00' WHERE idx = 31`, 31},
		{`DELETE FROM audit_record WHERE idx = 17`, 17},
		// The tail, with its leaves (they are in the records' rows): the
		// tree nodes covering it remain.
		{`DELETE FROM audit_record WHERE idx >= 16`, 16},
	} {
		if _, err := db.wconn.ExecContext(ctx, edit.sql); err != nil {
			t.Fatal(err)
		}
		var p *tlog.Problem
		if _, err := tlog.Verify(ctx, db.AuditLog, db.AuditNodes(), nil); !errors.As(err, &p) || p.Index != edit.want {
			t.Fatalf("after %s: %v, want a problem at %d", edit.sql, err, edit.want)
		}
	}
}

// BenchmarkVerifyAuditLog verifies a stored log of 100,000 records.
func BenchmarkVerifyAuditLog(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "hestia.db"), Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n, chunk = 100_000, 1000
	recs := make([][]byte, chunk)
	for i := 0; i < n; i += chunk {
		for k := range recs {
			recs[k] = []byte(fmt.Sprintf("sealed record %d with some padding to look like a real one..........", i+k))
		}
		if _, err := db.AppendAudit(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		rep, err := tlog.Verify(ctx, db.AuditLog, db.AuditNodes(), nil)
		if err != nil || rep.Size != n {
			b.Fatal(rep, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}

// openAuditDB opens a database of the test's own, closed at its end.
func openAuditDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "hestia.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Two processes on one database (the hestia command beside a running
// server) append to one log: each picks up the other's records.
func TestTwoHandlesShareTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hestia.db")
	a, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 40 {
		db := a
		if i%3 == 0 {
			db = b
		}
		if _, err := db.AppendAudit(ctx, []byte(fmt.Sprintf("record %d", i))); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	rep, err := tlog.Verify(ctx, a.AuditLog, a.AuditNodes(), nil)
	if err != nil || rep.Size != 40 {
		t.Fatalf("%+v %v", rep, err)
	}
	// The last to append knows the whole log.
	if size, root := b.AuditHead(); size != 40 || !bytes.Equal(root, rep.Root) {
		t.Fatalf("head %d", size)
	}
}
