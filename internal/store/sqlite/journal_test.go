package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/audit/journal"
	"github.com/hestiahealth/hestia/internal/audit/tlog"
)

// waitAudit waits until the log has size records.
func waitAudit(t testing.TB, db *DB, size uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, _ := db.AuditHead(); s == size {
			return
		} else if s > size || time.Now().After(deadline) {
			t.Fatalf("audit log has %d records, want %d", s, size)
		}
		time.Sleep(time.Millisecond)
	}
}

// openJournaled opens a database in dir and a journal in front of it,
// closed with the test.
func openJournaled(t testing.TB, dir string) (*DB, *journal.Journal) {
	t.Helper()
	db, err := Open(context.Background(), Config{Path: filepath.Join(dir, "hestia.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	j, err := journal.Open(filepath.Join(dir, "journal"), db.JournalSink(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return db, j
}

// Records made durable by the journal reach the log, each once, with
// concurrent writes that append their own records; the log verifies.
func TestJournalRecordsReachTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, j := openJournaled(t, dir)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 40 {
				if err := j.AppendAudit(ctx, fmt.Appendf(nil, "read %d/%d", g, k)); err != nil {
					t.Error(err)
					return
				}
				if k%10 == 0 {
					if _, err := db.AppendAudit(ctx, fmt.Appendf(nil, "write %d/%d", g, k)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	waitAudit(t, db, 16*40+16*4)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	db.AuditLog(ctx, func(_ uint64, rec []byte) error {
		if seen[string(rec)] {
			t.Errorf("record %q twice", rec)
		}
		seen[string(rec)] = true
		return nil
	})
	if _, err := tlog.Verify(ctx, db.AuditLog, db.AuditNodes(), nil); err != nil {
		t.Fatal(err)
	}
	mark := db.JournalSink().Adopted()
	db.Close()

	// Reopened, the stored mark is the journal's end: nothing is replayed.
	db, err := Open(ctx, Config{Path: filepath.Join(dir, "hestia.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.JournalSink().Adopted(); got != mark {
		t.Fatalf("stored mark %q, want %q", got, mark)
	}
	j, err = journal.Open(filepath.Join(dir, "journal"), db.JournalSink(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	time.Sleep(50 * time.Millisecond)
	if s, _ := db.AuditHead(); s != 16*40+16*4 {
		t.Fatalf("log has %d records after reopening, want no replays", s)
	}
}

// lostSink stands for a crash between the journal's fsync and the
// database's commit: it forwards nothing it is given.
type lostSink struct{ *JournalSink }

func (lostSink) Adopt([][]byte, string) {}

// Records the database never stored are stored when the journal is
// opened again.
func TestJournalReplaysAfterACrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, j := openJournaled(t, dir)
	for _, r := range []string{"a", "b"} {
		if err := j.AppendAudit(ctx, []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	waitAudit(t, db, 2)
	j.Close()
	j, err := journal.Open(filepath.Join(dir, "journal"), lostSink{db.JournalSink()}, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"c", "d"} {
		if err := j.AppendAudit(ctx, []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	db.Close()

	db, err = Open(ctx, Config{Path: filepath.Join(dir, "hestia.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s, _ := db.AuditHead(); s != 2 {
		t.Fatalf("log has %d records before the replay", s)
	}
	j, err = journal.Open(filepath.Join(dir, "journal"), db.JournalSink(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	waitAudit(t, db, 4)
	var got []string
	db.AuditLog(ctx, func(_ uint64, rec []byte) error { got = append(got, string(rec)); return nil })
	if fmt.Sprint(got) != "[a b c d]" {
		t.Fatalf("log %q", got)
	}
}

// When the log cannot store records, the journal refuses new ones (fail
// closed); once it can, the waiting records are stored in order and
// appends succeed again.
func TestJournalFailsClosedWhileTheLogCannotStore(t *testing.T) {
	ctx := context.Background()
	db, j := openJournaled(t, t.TempDir())
	if err := j.AppendAudit(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, db, 1)
	// A row where the next record goes: storing fails.
	if _, err := db.wconn.ExecContext(ctx, `INSERT INTO audit_record (idx, record) VALUES (1, 'squatter')`); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendAudit(ctx, []byte("second")); err != nil {
		t.Fatal(err) // durable in the journal; the log has not tried yet
	}
	deadline := time.Now().Add(5 * time.Second)
	for db.JournalSink().Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the sink stays ready while it cannot store")
		}
		time.Sleep(time.Millisecond)
	}
	if err := j.AppendAudit(ctx, []byte("refused")); err == nil {
		t.Fatal("append succeeded while the log cannot store records")
	}
	if _, err := db.wconn.ExecContext(ctx, `DELETE FROM audit_record WHERE idx = 1`); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, db, 2)
	if err := j.AppendAudit(ctx, []byte("third")); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	waitAudit(t, db, 3)
	var got [][]byte
	db.AuditLog(ctx, func(_ uint64, rec []byte) error { got = append(got, rec); return nil })
	if !bytes.Equal(bytes.Join(got, []byte(" ")), []byte("first second third")) {
		t.Fatalf("log %q", got)
	}
}

// BenchmarkJournalAppend appends 512-byte records from parallel callers
// through the journal, each returning once durable: the rate at which
// audited reads can be answered.
func BenchmarkJournalAppend(b *testing.B) {
	ctx := context.Background()
	_, j := openJournaled(b, b.TempDir())
	rec := bytes.Repeat([]byte{0xa5}, 512)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := j.AppendAudit(ctx, rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
