package sqlite

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Records made durable by an audit journal (internal/audit/journal) are
// stored here behind it: the journal hands them over in its order with a
// mark of its position (JournalSink.Adopt); the writer takes them into
// its next batch, before the batch's own records, and stores the mark in
// the meta table in the same transaction. Records wait up to adoptDelay
// for a batch (they are durable already): storing them in few large
// batches keeps the database's fsyncs out of the journal's way. A batch
// that fails leaves them queued, in order, for the next; until one
// succeeds the sink is not Ready, so the journal refuses new records (fail
// closed).

// journalMarkKey is the meta key of the journal position stored.
const journalMarkKey = "audit.journal"

const (
	// adoptDelay is the longest journal records wait for the writer to
	// start a batch (a write's batch takes them sooner).
	adoptDelay = 20 * time.Millisecond
	// adoptRetry is how long the writer waits to try again after failing
	// to store journal records.
	adoptRetry = 100 * time.Millisecond
	// adoptPerBatch bounds the journal records one batch takes.
	adoptPerBatch = 16384
	// adoptBacklog is the number of queued records past which the sink is
	// not Ready.
	adoptBacklog = 1 << 18
)

type adoptBatch struct {
	records [][]byte
	mark    string
}

// adoption is the queue of journal records waiting for the writer.
type adoption struct {
	mu     sync.Mutex
	queue  []adoptBatch
	queued int       // records in queue
	since  time.Time // when the oldest queued record arrived
	failed error     // why the last batch that took records did not commit
	mark   string    // the mark stored with the last records committed
}

// pending reports the records waiting and whether the last try failed.
func (a *adoption) pending() (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.queued, a.failed != nil
}

// due is how long the writer may wait before it stores the queued
// records: adoptDelay after the oldest arrived, adoptRetry after a
// failure, at once when a batch's worth waits.
func (a *adoption) due() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.failed != nil:
		return adoptRetry
	case a.queued >= adoptPerBatch:
		return 0
	}
	return time.Until(a.since.Add(adoptDelay))
}

// take returns the batches at the head of the queue, up to
// adoptPerBatch records (at least one batch); they stay queued until
// settled.
func (a *adoption) take() []adoptBatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, k := 0, 0
	for k < len(a.queue) && (k == 0 || n+len(a.queue[k].records) <= adoptPerBatch) {
		n += len(a.queue[k].records)
		k++
	}
	return a.queue[:k:k]
}

// settle removes taken batches from the queue if err is nil (they are
// stored), and records the failure otherwise.
func (a *adoption) settle(taken []adoptBatch, err error) {
	if len(taken) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failed = err
		return
	}
	n := 0
	for _, b := range taken {
		n += len(b.records)
	}
	a.queue = a.queue[len(taken):]
	a.queued -= n
	a.since = time.Now()
	a.failed = nil
	a.mark = taken[len(taken)-1].mark
}

// adopt adds the taken journal records to the batch's audit records and
// stores the journal mark after them.
func (w *writeTx) adopt(taken []adoptBatch) error {
	if len(taken) == 0 {
		return nil
	}
	// They go before the batch's own records: they were durable before
	// the batch's writes committed.
	var adopted []pendingAudit
	for _, b := range taken {
		for _, r := range b.records {
			adopted = append(adopted, pendingAudit{record: r})
		}
	}
	w.audit = append(adopted, w.audit...)
	return w.db.SetMetaIn(w, journalMarkKey, taken[len(taken)-1].mark)
}

// loadJournalMark reads the stored journal position at open.
func (db *DB) loadJournalMark(ctx context.Context) error {
	v, _, err := db.Meta(ctx, journalMarkKey)
	db.adopt.mark = v
	return err
}

// JournalSink is the database as the sink of an audit journal.
func (db *DB) JournalSink() *JournalSink { return &JournalSink{db} }

// JournalSink implements journal.Sink (see the top of this file).
type JournalSink struct{ db *DB }

// Ready reports whether the writer stores journal records: not after a
// batch that took them failed (until one succeeds), nor with a backlog.
func (s *JournalSink) Ready() error {
	a := &s.db.adopt
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed != nil {
		return fmt.Errorf("sqlite: storing audit records failed: %w", a.failed)
	}
	if a.queued >= adoptBacklog {
		return fmt.Errorf("sqlite: %d audit records wait to be stored", a.queued)
	}
	return nil
}

// Adopt queues records for the writer, and wakes it when they are the
// first to wait (it then waits adoptDelay) or a batch's worth waits.
func (s *JournalSink) Adopt(records [][]byte, mark string) {
	a := &s.db.adopt
	a.mu.Lock()
	wake := a.queued == 0 || a.queued < adoptPerBatch && a.queued+len(records) >= adoptPerBatch
	if a.queued == 0 {
		a.since = time.Now()
	}
	a.queue = append(a.queue, adoptBatch{records: records, mark: mark})
	a.queued += len(records)
	a.mu.Unlock()
	if wake {
		select {
		case s.db.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Adopted is the journal mark stored with the last records committed.
func (s *JournalSink) Adopted() string {
	a := &s.db.adopt
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mark
}
