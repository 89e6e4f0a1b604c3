package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// memSink stores what it adopts, and its mark, immediately.
type memSink struct {
	mu      sync.Mutex
	records []string
	mark    string
	notOK   error
	frozen  bool // stores nothing durably: Adopted stays ""
}

func (s *memSink) Ready() error { s.mu.Lock(); defer s.mu.Unlock(); return s.notOK }

func (s *memSink) Adopt(records [][]byte, mark string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		s.records = append(s.records, string(r))
	}
	if !s.frozen {
		s.mark = mark
	}
}

func (s *memSink) Adopted() string { s.mu.Lock(); defer s.mu.Unlock(); return s.mark }

func (s *memSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.records)
}

func open(t *testing.T, dir string, s Sink, opt Options) *Journal {
	t.Helper()
	j, err := Open(dir, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestAppendAndReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := &memSink{}
	j := open(t, dir, sink, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 50 {
				if err := j.AppendAudit(ctx, fmt.Appendf(nil, "g%d-%03d", g, k)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := j.AppendAudit(ctx, []byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	got := sink.got()
	if len(got) != 402 {
		t.Fatalf("sink has %d records, want 402", len(got))
	}
	// Each caller's records arrive in its order.
	last := map[byte]string{}
	for _, r := range got[:400] {
		if r <= last[r[1]] {
			t.Fatalf("record %s after %s", r, last[r[1]])
		}
		last[r[1]] = r
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	// A sink that stored nothing gets everything again, in the same order.
	again := &memSink{}
	j2 := open(t, dir, again, Options{})
	if !slices.Equal(again.got(), got) {
		t.Fatalf("replay differs: %d records", len(again.got()))
	}
	j2.Close()

	// A sink that stored up to a mark gets the rest only.
	m, err := ParseMark(sink.mark)
	if err != nil {
		t.Fatal(err)
	}
	m.Offset -= int64(frameHeader + len("b"))
	part := &memSink{mark: m.String()}
	j3 := open(t, dir, part, Options{})
	if want := []string{"b"}; !slices.Equal(part.got(), want) {
		t.Fatalf("replay after a mark = %q, want %q", part.got(), want)
	}
	if err := j3.AppendAudit(ctx, []byte("c")); err != nil {
		t.Fatal(err)
	}
	j3.Close()
	fresh := &memSink{}
	open(t, dir, fresh, Options{}).Close()
	if g := fresh.got(); len(g) != 403 || g[402] != "c" {
		t.Fatalf("after appending to a reopened journal: %d records, last %q", len(g), g[len(g)-1])
	}
}

func TestTornTailIsCleared(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := &memSink{}
	j := open(t, dir, sink, Options{})
	for _, r := range []string{"one", "two"} {
		if err := j.AppendAudit(ctx, []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	m, _ := ParseMark(sink.mark)
	seg := filepath.Join(dir, segmentName(1))
	want := []string{"one", "two"}
	for _, tail := range []struct {
		name string
		at   int64
		b    []byte
	}{
		{"short header", 0, []byte{0, 0, 0, 9}},
		{"short record", 0, []byte{0, 0, 0, 9, 1, 2, 3, 4, 'x'}},
		{"bad checksum", 0, []byte{0, 0, 0, 1, 1, 2, 3, 4, 'x'}},
		{"garbage further on", 1000, []byte("garbage")},
	} {
		f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
		f.WriteAt(tail.b, m.Offset+tail.at)
		f.Close()
		s := &memSink{}
		j := open(t, dir, s, Options{})
		if !slices.Equal(s.got(), want) {
			t.Fatalf("%s: replayed %q", tail.name, s.got())
		}
		b, _ := os.ReadFile(seg)
		if !allZero(b[m.Offset:]) {
			t.Fatalf("%s: the torn tail is still there", tail.name)
		}
		// Appends go on where the good frames end.
		if err := j.AppendAudit(ctx, []byte(tail.name)); err != nil {
			t.Fatal(err)
		}
		j.Close()
		want = append(want, tail.name)
		m, _ = ParseMark(s.mark)
	}
	s := &memSink{}
	open(t, dir, s, Options{}).Close()
	if !slices.Equal(s.got(), want) {
		t.Fatalf("replayed %q, want %q", s.got(), want)
	}
}

// manySegments writes records to a journal in dir with small segments, none
// pruned (the sink stores nothing durably), and returns the segments.
func manySegments(t *testing.T, dir string) []uint64 {
	t.Helper()
	j := open(t, dir, &memSink{frozen: true}, Options{SegmentSize: 64})
	for i := range 20 {
		if err := j.AppendAudit(context.Background(), fmt.Appendf(nil, "record %02d with some length", i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	segs, _ := segments(dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	return segs
}

func TestBadFrameInOlderSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	segs := manySegments(t, dir)
	// Flip a byte in the first segment's record.
	path := filepath.Join(dir, segmentName(segs[0]))
	b, _ := os.ReadFile(path)
	b[frameHeader+1] ^= 1
	os.WriteFile(path, b, 0o600)
	if _, err := Open(dir, &memSink{}, Options{SegmentSize: 64}); err == nil {
		t.Fatal("a damaged record in an older segment was not reported")
	}
}

func TestSegmentsRotateAndArePruned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := &memSink{}
	j := open(t, dir, sink, Options{SegmentSize: 100})
	for i := range 40 {
		if err := j.AppendAudit(ctx, fmt.Appendf(nil, "record %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	segs, _ := segments(dir)
	// The memory sink stores at once: only the current segment and the
	// one its mark is in may remain.
	if len(segs) > 2 {
		t.Fatalf("segments %v remain, want the older ones pruned", segs)
	}
	if len(sink.got()) != 40 {
		t.Fatalf("%d records", len(sink.got()))
	}
	// A sink that stored nothing cannot be served after pruning; one that
	// stored everything gets nothing again.
	s := &memSink{mark: sink.mark}
	open(t, dir, s, Options{SegmentSize: 100}).Close()
	if len(s.got()) != 0 {
		t.Fatalf("replayed %q past the mark", s.got())
	}
}

func TestNotReadyWritesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := &memSink{}
	j := open(t, dir, sink, Options{})
	defer j.Close()
	if err := j.AppendAudit(ctx, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, segmentName(1))
	before, _ := os.ReadFile(seg)
	sink.mu.Lock()
	sink.notOK = errors.New("log down")
	sink.mu.Unlock()
	if err := j.AppendAudit(ctx, []byte("refused")); err == nil {
		t.Fatal("append succeeded while the sink is not ready")
	}
	after, _ := os.ReadFile(seg)
	if !slices.Equal(after, before) || len(sink.got()) != 1 {
		t.Fatal("a refused record was written")
	}
	sink.mu.Lock()
	sink.notOK = nil
	sink.mu.Unlock()
	if err := j.AppendAudit(ctx, []byte("again")); err != nil {
		t.Fatalf("append after the sink recovered: %v", err)
	}
}

func TestWriteFailureBreaksTheJournal(t *testing.T) {
	ctx := context.Background()
	j := open(t, t.TempDir(), &memSink{}, Options{})
	defer j.Close()
	j.f.Close() // the disk goes away under the appender
	for range 2 {
		if err := j.AppendAudit(ctx, []byte("x")); !errors.Is(err, ErrBroken) {
			t.Fatalf("append after a write failure: %v, want ErrBroken", err)
		}
	}
}

func TestOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, &memSink{}, Options{})
	if _, err := Open(dir, &memSink{}, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	j.Close()
	open(t, dir, &memSink{}, Options{}).Close()
}

func TestMarks(t *testing.T) {
	for _, s := range []string{"x", "1", "1:-2", ":3", "a:1"} {
		if _, err := ParseMark(s); err == nil {
			t.Errorf("ParseMark(%q) accepted", s)
		}
	}
	m := Mark{7, 123}
	if got, err := ParseMark(m.String()); err != nil || got != m {
		t.Fatalf("round trip: %v %v", got, err)
	}
}

// BenchmarkAppend appends 512-byte records from parallel callers to a
// journal whose sink stores nothing: the journal's own rate.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	j := open(&testing.T{}, b.TempDir(), &memSink{frozen: true}, Options{})
	defer j.Close()
	rec := make([]byte, 512)
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

// A record no frame can hold is refused before anything is written (it
// could not be replayed).
func TestOversizedRecordRefused(t *testing.T) {
	sink := &memSink{}
	j := open(t, t.TempDir(), sink, Options{})
	defer j.Close()
	if err := j.AppendAudit(context.Background(), make([]byte, maxRecord+1)); err == nil {
		t.Fatal("an oversized record was accepted")
	}
	if len(sink.got()) != 0 {
		t.Fatal("an oversized record reached the sink")
	}
}

// A segment missing between others is an error, not a silent gap.
func TestMissingSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	segs := manySegments(t, dir)
	os.Remove(filepath.Join(dir, segmentName(segs[1])))
	if _, err := Open(dir, &memSink{}, Options{SegmentSize: 64}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("open with a segment missing: %v", err)
	}
}
