// Package checkpoint issues the audit log's signed checkpoints: every N
// records or T seconds, the log's size and root hash are signed (C2SP
// tlog-checkpoint, Ed25519 signed note), stored in the database and
// written to every sink outside it, so that a database rolled back to an
// earlier copy, or rewritten, is detected (tlog.CheckPrefix).
//
// Invariants:
//   - A checkpoint is issued only for a size the log has committed, and
//     never twice for one size.
//   - Checkpoints held by the sinks are never changed or removed by the
//     issuer: a sink only receives new ones.
//   - A sink that fails is logged (no PHI: sizes and sink names) and
//     retried with the next checkpoint; it does not stop the log.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
)

// Log is the audit log as the issuer sees it.
type Log interface {
	AuditHead() (size uint64, root []byte)
	SaveCheckpoint(ctx context.Context, size uint64, note []byte) error
}

// Sink holds checkpoints outside the database.
type Sink interface {
	Put(ctx context.Context, size uint64, note []byte) error
	String() string // where, for messages
}

// Source is a sink whose checkpoints can be read back: Newest returns the
// one of the largest size above after (nil if none), for the check at
// open that the log extends every checkpoint it signed.
type Source interface {
	Sink
	Newest(ctx context.Context, after uint64) ([]byte, error)
}

// Issuer signs checkpoints. Its methods are safe for concurrent use.
type Issuer struct {
	Log      Log
	Signer   note.Signer
	Origin   string
	Sinks    []Sink
	Every    uint64        // issue after this many new records (default 1,000)
	Interval time.Duration // or after this long with new records (default 10s)
	Logger   *slog.Logger
	// Leading, when set, tells Run whether this process is the one that
	// issues checkpoints (several nodes on one log: the one that
	// sequences it); Run issues only while it reports true.
	Leading func() bool

	mu     sync.Mutex
	last   uint64 // size of the last checkpoint issued
	lastAt time.Time
	latest []byte
}

// Start sets the checkpoint the issuer continues from (the latest stored).
func (is *Issuer) Start(size uint64, note []byte) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.last, is.latest, is.lastAt = size, note, time.Now()
}

// Latest returns the last checkpoint issued (nil before the first).
func (is *Issuer) Latest() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.latest
}

// Issue signs a checkpoint of the log as committed now, unless it has not
// grown since the last one, stores it and writes it to every sink. It
// returns the latest checkpoint. Sinks are written outside the issuer's
// lock and whatever becomes of ctx (a caller that goes away does not cut a
// sink's write short).
func (is *Issuer) Issue(ctx context.Context) ([]byte, error) {
	is.mu.Lock()
	size, root := is.Log.AuditHead()
	if size == is.last && is.latest != nil {
		latest := is.latest
		is.mu.Unlock()
		return latest, nil
	}
	signed, err := tlog.Checkpoint{Origin: is.Origin, Size: size, Root: root}.Sign(is.Signer)
	if err == nil {
		err = is.Log.SaveCheckpoint(ctx, size, signed)
	}
	if err != nil {
		is.mu.Unlock()
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	is.last, is.lastAt, is.latest = size, time.Now(), signed
	is.mu.Unlock()
	sctx := context.WithoutCancel(ctx)
	for _, s := range is.Sinks {
		if err := s.Put(sctx, size, signed); err != nil && is.Logger != nil {
			is.Logger.Error("audit checkpoint sink failed", slog.String("sink", s.String()), slog.Uint64("size", size), slog.String("error", err.Error()))
		}
	}
	return signed, nil
}

// due reports whether a checkpoint is due.
func (is *Issuer) due() bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	size, _ := is.Log.AuditHead()
	every, interval := is.Every, is.Interval
	if every == 0 {
		every = 1000
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return size >= is.last+every || size > is.last && time.Since(is.lastAt) >= interval
}

// Run issues checkpoints when due until ctx is done, and a last one then.
func (is *Issuer) Run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if is.Leading != nil && !is.Leading() {
				return
			}
			if _, err := is.Issue(context.WithoutCancel(ctx)); err != nil && is.Logger != nil {
				is.Logger.Error("audit checkpoint", slog.String("error", err.Error()))
			}
			return
		case <-tick.C:
			if is.Leading != nil && !is.Leading() || !is.due() {
				continue
			}
			if _, err := is.Issue(ctx); err != nil && is.Logger != nil {
				is.Logger.Error("audit checkpoint", slog.String("error", err.Error()))
			}
		}
	}
}

// Folder is a sink that writes each checkpoint to its own file in a
// folder (SIZE.checkpoint, zero-padded so names sort by size), durably.
type Folder struct{ Dir string }

func (f Folder) String() string { return f.Dir }

// Put implements Sink. A checkpoint of a size already held is left as it is.
func (f Folder) Put(_ context.Context, size uint64, note []byte) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	name := filepath.Join(f.Dir, fileName(size))
	if _, err := os.Stat(name); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(f.Dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(note); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	d, err := os.Open(f.Dir)
	if err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	defer d.Close()
	return d.Sync()
}

// Newest implements Source.
func (f Folder) Newest(_ context.Context, after uint64) ([]byte, error) {
	ents, err := os.ReadDir(f.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint folder: %w", err)
	}
	var newest string
	var best uint64
	for _, e := range ents {
		if n, ok := sizeOf(e.Name()); ok && n > after && n >= best {
			newest, best = e.Name(), n
		}
	}
	if newest == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, newest))
	if err != nil {
		return nil, fmt.Errorf("checkpoint folder: %w", err)
	}
	return b, nil
}

// ReadFolder returns the checkpoints a Folder sink holds, by size.
func ReadFolder(dir string) ([][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint folder: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".checkpoint") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("checkpoint folder: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Open opens signed checkpoints of the log origin with verifier (a
// note verifier key), and returns them with the first error.
func Open(notes [][]byte, origin, verifier string) ([]tlog.Checkpoint, error) {
	v, err := note.NewVerifier(verifier)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: verifier key: %w", err)
	}
	out := make([]tlog.Checkpoint, 0, len(notes))
	for _, n := range notes {
		c, err := tlog.OpenCheckpoint(n, origin, v)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
