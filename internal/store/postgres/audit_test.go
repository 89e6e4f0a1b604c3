package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/pgtest"
	"github.com/hestiahealth/hestia/internal/store"
)

// waitSequenced waits until the queue is empty and db's head has size n.
func waitSequenced(t *testing.T, db *DB, n uint64) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		q, err := db.QueuedAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if size, _ := db.AuditHead(); q == 0 && size == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	q, _ := db.QueuedAudit(ctx)
	size, _ := db.AuditHead()
	t.Fatalf("audit log: %d queued, head %d, want 0 queued and %d", q, size, n)
}

// verify recomputes the whole log from storage and checks its root.
func verify(t *testing.T, db *DB) {
	t.Helper()
	size, root := db.AuditHead()
	rep, err := tlog.Verify(context.Background(), db.AuditLog, db.AuditNodes(), []tlog.Checkpoint{{Origin: "test", Size: size, Root: root}})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Size != size {
		t.Fatalf("verify: %d records, head %d", rep.Size, size)
	}
}

func TestAuditAppendAndWrites(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if err := db.AppendAudit(ctx, []byte("r0"), []byte("r1")); err != nil {
		t.Fatal(err)
	}
	// A write's record commits with it; a failed write's does not.
	if err := db.Update(ctx, func(tx store.Tx) error {
		tx.AppendAudit([]byte("w0"))
		return tx.Put(&store.Write{Type: "Patient", ID: "a", Version: 1, Updated: time.Now(), Method: store.MethodCreate, Body: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error {
		tx.AppendAudit([]byte("lost"))
		return fmt.Errorf("deliberate")
	}); err == nil {
		t.Fatal("a failing update succeeded")
	}
	waitSequenced(t, db, 3)
	var got []string
	if err := db.AuditLog(ctx, func(_ uint64, r []byte) error { got = append(got, string(r)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[r0 r1 w0]" {
		t.Fatalf("log %v", got)
	}
	verify(t, db)
	// The tree survives a restart: a node opened afresh has the same head.
	_, root := db.AuditHead()
	db2, err := Open(ctx, Config{URL: db.cfg.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	size2, root2 := db2.AuditHead()
	if size2 != 3 || string(root2) != string(root) {
		t.Fatalf("reopened head %d %x, want 3 %x", size2, root2, root)
	}
}

// Several nodes on one database append concurrently; the log stays one
// tree, and when the node that sequences closes another takes over.
func TestAuditManyNodes(t *testing.T) {
	url := pgtest.DSN(t)
	ctx := context.Background()
	nodes := make([]*DB, 3)
	for i := range nodes {
		db, err := Open(ctx, Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = db
	}
	defer func() {
		for _, db := range nodes {
			if db != nil {
				db.Close()
			}
		}
	}()
	const perNode = 200
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*perNode)
	for i, db := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perNode {
				if k%2 == 0 {
					errs <- db.AppendAudit(ctx, []byte(fmt.Sprintf("n%d-%d", i, k)))
					continue
				}
				errs <- db.Update(ctx, func(tx store.Tx) error {
					tx.AppendAudit([]byte(fmt.Sprintf("n%d-%d", i, k)))
					return tx.Put(&store.Write{Type: "Patient", ID: fmt.Sprintf("n%d-%d", i, k), Version: 1, Updated: time.Now(), Method: store.MethodCreate, Body: []byte(`{}`)})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	leaders := 0
	var leader int
	for i, db := range nodes {
		if db.Sequencing() {
			leaders++
			leader = i
		}
	}
	if leaders != 1 {
		t.Fatalf("%d nodes sequence, want 1", leaders)
	}
	total := uint64(len(nodes) * perNode)
	waitSequenced(t, nodes[leader], total)
	verify(t, nodes[leader])
	seen := make(map[string]bool)
	if err := nodes[leader].AuditLog(ctx, func(_ uint64, r []byte) error { seen[string(r)] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != int(total) {
		t.Fatalf("%d distinct records in the log, want %d", len(seen), total)
	}

	// The sequencing node goes away; another takes the lease and goes on.
	nodes[leader].Close()
	nodes[leader] = nil
	var next *DB
	for _, db := range nodes {
		if db != nil {
			next = db
			break
		}
	}
	if err := next.AppendAudit(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		taken := false
		for _, db := range nodes {
			if db != nil && db.Sequencing() {
				taken = true
			}
		}
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no node took over sequencing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, db := range nodes {
		if db != nil && db.Sequencing() {
			waitSequenced(t, db, total+1)
			verify(t, db)
		}
	}
	// The other nodes follow the log.
	for _, db := range nodes {
		if db != nil {
			deadline := time.Now().Add(5 * time.Second)
			for {
				if size, _ := db.AuditHead(); size == total+1 {
					break
				}
				if time.Now().After(deadline) {
					size, _ := db.AuditHead()
					t.Fatalf("a node's head is %d, want %d", size, total+1)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// A live log verifies: another node appending meanwhile is not taken for a
// removed tail or a stray node.
func TestVerifyALiveLog(t *testing.T) {
	url := pgtest.DSN(t)
	ctx := context.Background()
	a, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 3000 {
		if err := a.AppendAudit(ctx, []byte(fmt.Sprintf("r%d", i))); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			if _, err := a.Sequence(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = b.AppendAudit(ctx, []byte(fmt.Sprintf("live%d", k)))
			_, _ = b.Sequence(ctx)
		}
	}()
	for range 5 {
		rep, err := a.VerifyAudit(ctx, nil)
		if err != nil {
			t.Fatalf("verify of a live log: %v", err)
		}
		if rep.Size < 3000 {
			t.Fatalf("verify checked %d records", rep.Size)
		}
	}
	close(stop)
	<-done
}
