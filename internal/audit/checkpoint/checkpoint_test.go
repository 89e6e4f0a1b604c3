package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/crypt"
)

type memLog struct {
	mu    sync.Mutex
	tree  *tlog.Tree
	saved map[uint64][]byte
}

func (m *memLog) AuditHead() (uint64, []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tree.Size(), m.tree.Root()
}

func (m *memLog) SaveCheckpoint(_ context.Context, size uint64, n []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saved[size] = n
	return nil
}

func (m *memLog) append(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.tree.Append([]byte{byte(m.tree.Size())}, func(tlog.NodeID, []byte) {})
	}
}

type failingSink struct{ calls int }

func (f *failingSink) Put(context.Context, uint64, []byte) error {
	f.calls++
	return errors.New("down")
}
func (f *failingSink) String() string { return "failing" }

// Checkpoints are issued every N records, signed, stored and written to
// every sink (a failing one does not stop them); they open with the
// verifier key and state the log's size and root.
func TestIssuer(t *testing.T) {
	skey, vkey, err := crypt.NewNoteKey("example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	log := &memLog{tree: tlog.Empty(), saved: map[uint64][]byte{}}
	dir := t.TempDir()
	bad := &failingSink{}
	is := &Issuer{Log: log, Signer: signer, Origin: "example.org/log", Sinks: []Sink{bad, Folder{Dir: dir}}, Every: 10, Interval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { is.Run(ctx); close(done) }()
	for range 3 {
		log.append(10)
		deadline := time.Now().Add(5 * time.Second)
		for size, _ := log.AuditHead(); ; {
			log.mu.Lock()
			_, ok := log.saved[size]
			log.mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of size %d", size)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	log.append(3) // fewer than Every: issued at the end only
	cancel()
	<-done
	notes, err := ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := Open(notes, "example.org/log", vkey)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []uint64
	for _, c := range cps {
		sizes = append(sizes, c.Size)
	}
	if len(sizes) != 4 || sizes[0] != 10 || sizes[3] != 33 {
		t.Fatalf("checkpoints of sizes %v, want 10 20 30 33", sizes)
	}
	if _, root := log.AuditHead(); !bytes.Equal(cps[3].Root, root) {
		t.Fatal("the last checkpoint's root is not the log's")
	}
	if bad.calls != 4 {
		t.Fatalf("the failing sink was tried %d times", bad.calls)
	}
	// Nothing new: no new checkpoint.
	again, _ := is.Issue(context.Background())
	if !bytes.Equal(again, notes[3]) {
		t.Fatal("a checkpoint was issued for a log that did not grow")
	}
	// Another key's checkpoints, or another log's, do not open.
	_, other, _ := crypt.NewNoteKey("example.org/log")
	if _, err := Open(notes, "example.org/log", other); err == nil {
		t.Fatal("checkpoints opened with another key")
	}
	if _, err := Open(notes, "example.org/other", vkey); err == nil {
		t.Fatal("checkpoints opened as another log's")
	}
}
