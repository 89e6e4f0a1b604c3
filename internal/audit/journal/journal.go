// Package journal makes audit records durable fast: an append-only file
// (in segments) with its own group commit, ahead of the database that
// holds the transparency log. A read's record is durable once its journal
// batch is fsynced (a fraction of a millisecond); the records are then
// handed, in journal order, to a Sink (the database writer), which gives
// them their log indices in large batches and stores with them the Mark up
// to which it has taken the journal. At Open, the records after the
// sink's Mark are handed over again, so nothing acknowledged is lost.
//
// Invariants:
//   - Append returns nil only after the record is on disk (fsync), and
//     after the Sink has taken it in order; the Sink is asked whether it is
//     Ready before anything is written, so a broken log refuses records
//     rather than piling them up (fail closed).
//   - One process appends to a journal (an exclusive lock on the folder);
//     a second Open fails with ErrLocked.
//   - A write or fsync error breaks the journal for good: after a failed
//     fsync the file's state is unknown, so every later Append fails
//     until the process reopens it (and replays what is on disk).
//   - Segments are deleted only when the Sink's Mark is past them.
//   - Frames are length, CRC-32C (of length and record) and record.
//     Segments are zero-filled ahead of the writes, so that an fsync
//     flushes data, not file sizes (one disk flush instead of two); a
//     frame that does not check, followed by zeros only, is the end of
//     the segment. Anything else after it is a torn write (a crash
//     mid-write, never acknowledged) in the last segment, zeroed at Open,
//     and an error in any other segment.
package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Sink takes the journal's records in order. Its methods are called from
// one goroutine at a time.
type Sink interface {
	// Ready reports whether records can be taken: an error (the log
	// cannot be written, or too many records wait) makes Append fail
	// before it writes anything.
	Ready() error
	// Adopt takes records that are durable in the journal, in journal
	// order; mark is the journal position after the last of them (see
	// Mark). It must not block for long: it queues them.
	Adopt(records [][]byte, mark string)
	// Adopted is the mark of the last records the sink has stored
	// durably ("" if none): the journal replays from there at Open.
	Adopted() string
}

// ErrLocked is returned by Open when another process has the journal.
var ErrLocked = errors.New("journal: in use by another process")

// ErrBroken is wrapped by Append's errors once the journal cannot write.
var ErrBroken = errors.New("journal: broken")

// Options tune a journal; the zero value is the default.
type Options struct {
	// SegmentSize is the size past which a new segment file is started.
	// Default 64 MiB.
	SegmentSize int64
	// MaxBatch bounds the records written with one fsync. Default 4096.
	MaxBatch int
}

// Journal is an open journal. Its methods are safe for concurrent use.
type Journal struct {
	dir  string
	opt  Options
	sink Sink
	lock *os.File

	reqs chan *request
	done chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool

	// Owned by the appender goroutine.
	f      *os.File
	seg    uint64
	off    int64 // where the next frame goes
	filled int64 // the segment's size: zeros from off to filled
	broken error
}

// fillChunk is how far ahead of the writes a segment is zero-filled.
const fillChunk = 4 << 20

type request struct {
	records [][]byte
	done    chan error
}

// maxRecord bounds one record (a sanity check on frames read back).
const maxRecord = 64 << 20

const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Mark is a journal position: segment number and byte offset.
type Mark struct {
	Segment uint64
	Offset  int64
}

func (m Mark) String() string { return fmt.Sprintf("%d:%d", m.Segment, m.Offset) }

// ParseMark reads a Mark written by String; "" is the start.
func ParseMark(s string) (Mark, error) {
	if s == "" {
		return Mark{}, nil
	}
	seg, off, ok := strings.Cut(s, ":")
	if !ok {
		return Mark{}, fmt.Errorf("journal: bad mark %q", s)
	}
	n, err1 := strconv.ParseUint(seg, 10, 64)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if err1 != nil || err2 != nil || o < 0 {
		return Mark{}, fmt.Errorf("journal: bad mark %q", s)
	}
	return Mark{n, o}, nil
}

// Open opens (creating if needed) the journal in dir, hands the records
// after sink.Adopted() to sink, and starts appending.
func Open(dir string, sink Sink, opt Options) (*Journal, error) {
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = 64 << 20
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 4096
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{dir: dir, opt: opt, sink: sink, lock: lock,
		reqs: make(chan *request, 1024), done: make(chan struct{})}
	if err := j.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	go j.appender()
	return j, nil
}

func segmentName(n uint64) string { return fmt.Sprintf("%016x.journal", n) }

// segments lists the segment numbers in dir, in order.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".journal")
		if !ok || len(name) != 16 {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// recover hands the records after the sink's mark to the sink, cuts a
// torn tail, deletes segments the sink has taken, and opens the last
// segment for appending.
func (j *Journal) recover() error {
	from, err := ParseMark(j.sink.Adopted())
	if err != nil {
		return err
	}
	segs, err := segments(j.dir)
	if err != nil {
		return err
	}
	last := from.Segment
	if len(segs) > 0 {
		last = max(last, segs[len(segs)-1])
	}
	// From the mark's segment on, none may be missing.
	for i := 1; i < len(segs); i++ {
		if segs[i] > from.Segment && segs[i] != segs[i-1]+1 {
			return fmt.Errorf("journal: segment %d is missing", segs[i-1]+1)
		}
	}
	if len(segs) > 0 && from.Segment > 0 && segs[len(segs)-1] >= from.Segment && !slices.Contains(segs, from.Segment) && from.Offset > 0 {
		return fmt.Errorf("journal: segment %d, which the log has read into, is missing", from.Segment)
	}
	for i, n := range segs {
		if n < from.Segment {
			if err := os.Remove(filepath.Join(j.dir, segmentName(n))); err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			continue
		}
		start := int64(0)
		if n == from.Segment {
			start = from.Offset
		}
		end, err := j.replay(n, start, i == len(segs)-1)
		if err != nil {
			return err
		}
		if n == last {
			j.off = end
		}
	}
	if len(segs) == 0 || segs[len(segs)-1] < last {
		// A fresh journal, or one whose files are gone: go on after the mark.
		last++
		j.off = 0
	}
	f, err := os.OpenFile(filepath.Join(j.dir, segmentName(last)), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	j.f, j.seg, j.filled = f, last, st.Size()
	return syncDir(j.dir)
}

// replay hands segment n's records from offset start to the sink and
// returns the offset after the last good frame; a torn tail of the last
// segment is cut off there.
func (j *Journal) replay(n uint64, start int64, last bool) (int64, error) {
	path := filepath.Join(j.dir, segmentName(n))
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	if start > int64(len(data)) {
		return 0, fmt.Errorf("journal: segment %d is shorter (%d bytes) than the log has taken (%d)", n, len(data), start)
	}
	var batch [][]byte
	off := start
	for off < int64(len(data)) {
		rec, next, ok := frame(data, off)
		if !ok {
			if allZero(data[off:]) {
				break // the zero-filled rest of the segment
			}
			if !last {
				return 0, fmt.Errorf("journal: segment %d: bad frame at offset %d", n, off)
			}
			if err := zeroFrom(path, off, int64(len(data))); err != nil {
				return 0, fmt.Errorf("journal: clear torn tail: %w", err)
			}
			break
		}
		batch = append(batch, rec)
		off = next
		if len(batch) == j.opt.MaxBatch {
			j.sink.Adopt(batch, Mark{n, off}.String())
			batch = nil
		}
	}
	if len(batch) > 0 {
		j.sink.Adopt(batch, Mark{n, off}.String())
	}
	return off, nil
}

// zeroFrom overwrites [off, end) of the file at path with zeros, durably.
func zeroFrom(path string, off, end int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, end-off), off); err != nil {
		return err
	}
	return f.Sync()
}

// frame decodes the frame at off: its record and the offset after it.
func frame(data []byte, off int64) ([]byte, int64, bool) {
	if int64(len(data))-off < frameHeader {
		return nil, 0, false
	}
	n := int64(binary.BigEndian.Uint32(data[off:]))
	sum := binary.BigEndian.Uint32(data[off+4:])
	if n > maxRecord || int64(len(data))-off-frameHeader < n {
		return nil, 0, false
	}
	rec := data[off+frameHeader : off+frameHeader+n]
	if checksum(data[off:off+4], rec) != sum {
		return nil, 0, false
	}
	return slices.Clone(rec), off + frameHeader + n, true
}

// checksum is the CRC-32C of a frame's length field and record: a zeroed
// header never checks.
func checksum(length, rec []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, rec)
}

// appendFrame appends rec's frame to buf.
func appendFrame(buf, rec []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(rec)))
	buf = binary.BigEndian.AppendUint32(buf, checksum(buf[len(buf)-4:], rec))
	return append(buf, rec...)
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// AppendAudit writes records to the journal and returns once they are
// durable and taken by the sink. Concurrent calls share an fsync.
func (j *Journal) AppendAudit(ctx context.Context, records ...[]byte) error {
	for _, rec := range records {
		if len(rec) > maxRecord {
			return fmt.Errorf("journal: a record of %d bytes is larger than the %d a frame holds", len(rec), maxRecord)
		}
	}
	r := &request{records: records, done: make(chan error, 1)}
	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return fmt.Errorf("%w: closed", ErrBroken)
	}
	select {
	case j.reqs <- r:
	case <-ctx.Done():
		j.mu.RUnlock()
		return ctx.Err()
	}
	j.mu.RUnlock()
	// Once queued the request is written or failed: wait for it, so the
	// caller knows.
	return <-r.done
}

// appender is the group commit: it writes every waiting request with one
// write and one fsync, hands the records to the sink and releases the
// callers.
func (j *Journal) appender() {
	defer close(j.done)
	var batch []*request
	var buf []byte
	for first := range j.reqs {
		batch = append(batch[:0], first)
		n := len(first.records)
	gather:
		for n < j.opt.MaxBatch {
			select {
			case r, ok := <-j.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				n += len(r.records)
			default:
				break gather
			}
		}
		buf = buf[:0]
		records := make([][]byte, 0, n)
		for _, r := range batch {
			for _, rec := range r.records {
				buf = appendFrame(buf, rec)
				records = append(records, rec)
			}
		}
		err := j.write(buf)
		if err == nil {
			j.sink.Adopt(records, Mark{j.seg, j.off}.String())
			j.rotate()
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

// write appends buf durably, after checking the sink is ready.
func (j *Journal) write(buf []byte) error {
	if j.broken != nil {
		return j.broken
	}
	if err := j.sink.Ready(); err != nil {
		return fmt.Errorf("journal: the audit log cannot take records: %w", err)
	}
	if len(buf) > maxRecord*4 {
		return fmt.Errorf("journal: batch of %d bytes is too large", len(buf))
	}
	if end := j.off + int64(len(buf)); end > j.filled {
		// Zero-fill ahead: this batch's fsync also flushes the new size,
		// and the next fillChunk bytes of batches flush data only.
		chunk := min(fillChunk, j.opt.SegmentSize)
		fill := end + chunk - end%chunk
		if _, err := j.f.WriteAt(make([]byte, fill-j.filled), j.filled); err != nil {
			j.broken = fmt.Errorf("%w: write: %v", ErrBroken, err)
			return j.broken
		}
		j.filled = fill
	}
	if _, err := j.f.WriteAt(buf, j.off); err != nil {
		j.broken = fmt.Errorf("%w: write: %v", ErrBroken, err)
		return j.broken
	}
	if err := datasync(j.f); err != nil {
		j.broken = fmt.Errorf("%w: fsync: %v", ErrBroken, err)
		return j.broken
	}
	j.off += int64(len(buf))
	return nil
}

// rotate starts a new segment once the current one is full, and deletes
// the segments the sink has stored. A failure leaves the current segment
// in use (it only grows).
func (j *Journal) rotate() {
	if j.off < j.opt.SegmentSize {
		return
	}
	f, err := os.OpenFile(filepath.Join(j.dir, segmentName(j.seg+1)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		os.Remove(f.Name())
		return
	}
	j.f.Close()
	j.f, j.seg, j.off, j.filled = f, j.seg+1, 0, 0
	j.prune()
}

// prune deletes the segments before the one the sink's mark is in.
func (j *Journal) prune() {
	m, err := ParseMark(j.sink.Adopted())
	if err != nil {
		return
	}
	segs, err := segments(j.dir)
	if err != nil {
		return
	}
	for _, n := range segs {
		if n < m.Segment && n < j.seg {
			_ = os.Remove(filepath.Join(j.dir, segmentName(n)))
		}
	}
}

// Close stops appending (waiting for queued requests) and closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	close(j.reqs)
	j.mu.Unlock()
	<-j.done
	err := j.f.Close()
	j.lock.Close() // releases the lock
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync folder: %w", err)
	}
	return nil
}
