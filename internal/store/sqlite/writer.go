package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

type job struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan error
	// records, for a job that only appends audit records: it needs no
	// savepoint, since it cannot fail part way (fn is nil).
	records []pendingAudit
}

// Update implements store.Store: fn runs on the writer goroutine inside a
// SAVEPOINT of a batch transaction; Update returns after the batch commits.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, &job{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// run queues a job and waits for its batch to commit.
func (db *DB) run(ctx context.Context, j *job) error {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case db.jobs <- j:
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	db.mu.RUnlock()
	// Once queued, the job runs (or fails) and must be waited for: returning
	// early would leave the caller unsure whether its writes committed.
	return <-j.done
}

func (db *DB) writer() {
	defer close(db.done)
	batch := make([]*job, 0, db.cfg.MaxBatch)
	for {
		first, ok := db.nextJob()
		if !ok {
			break
		}
		batch = batch[:0]
		if first != nil {
			batch = append(batch, first)
		}
		if first != nil && db.cfg.BatchWindow > 0 {
			timer := time.NewTimer(db.cfg.BatchWindow)
		gather:
			for len(batch) < db.cfg.MaxBatch {
				select {
				case j, ok := <-db.jobs:
					if !ok {
						break gather
					}
					batch = append(batch, j)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
	drain:
		for len(batch) < db.cfg.MaxBatch {
			select {
			case j, ok := <-db.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		db.runAdopting(batch)
		db.truncateWAL()
	}
	// Journal records still waiting are stored now if they can be; if
	// not, the journal hands them over again at the next open.
	if n, failed := db.adopt.pending(); n > 0 && !failed {
		db.runAdopting(nil)
	}
}

// nextJob waits for the next job; with journal records waiting it waits
// only until they are due (first nil: a batch of those records alone).
// ok is false once the queue is closed.
func (db *DB) nextJob() (first *job, ok bool) {
	for {
		if n, _ := db.adopt.pending(); n == 0 {
			select {
			case j, ok := <-db.jobs:
				return j, ok
			case <-db.wake:
				continue
			}
		}
		wait := db.adopt.due()
		if wait <= 0 {
			select {
			case j, ok := <-db.jobs:
				return j, ok
			default:
				return nil, true
			}
		}
		t := time.NewTimer(wait)
		select {
		case j, ok := <-db.jobs:
			t.Stop()
			return j, ok
		case <-db.wake:
			t.Stop()
		case <-t.C:
			return nil, true
		}
	}
}

// runAdopting runs a batch of jobs together with the journal records that
// wait, and settles those records: stored, or kept for the next batch.
func (db *DB) runAdopting(batch []*job) {
	taken := db.adopt.take()
	err := db.runBatch(batch, taken)
	db.adopt.settle(taken, err)
}

// truncateWAL restarts a WAL that has grown past maxWAL. A busy writer
// outpaces the passive checkpoints, which never finish while it appends;
// here, between batches, the writer finishes the backfill itself (most of it
// is done already) and starts the WAL afresh, so it stays bounded.
func (db *DB) truncateWAL() {
	st, err := os.Stat(db.cfg.Path + "-wal")
	if err != nil || st.Size() < maxWAL {
		return
	}
	_, _ = db.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
}

// truncateWALNow checkpoints the whole WAL into the database and truncates
// it, waiting (briefly) for readers of older snapshots to finish.
func (db *DB) truncateWALNow() error {
	for attempt := 0; attempt < 50; attempt++ {
		var busy, logFrames, done int
		if err := db.wconn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("sqlite: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("sqlite: checkpoint: readers kept the WAL busy")
}

// runBatch runs a batch of jobs in one transaction, with the journal
// records taken (see journal.go); it returns nil if the batch committed.
func (db *DB) runBatch(batch []*job, taken []adoptBatch) error {
	ctx := context.Background()
	results := make([]error, len(batch))
	tx, err := db.wconn.BeginTx(ctx, nil)
	if err != nil {
		err = fmt.Errorf("sqlite: begin: %w", err)
		for _, j := range batch {
			j.done <- err
		}
		return err
	}
	w := &writeTx{Writer: db.core.NewWriter(ctx, tx), db: db, tx: tx, ctx: ctx}
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if j.fn == nil {
			w.audit = append(w.audit, j.records...)
			continue
		}
		sp := "s" + strconv.Itoa(i)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			results[i] = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		// Statements run under the batch's context, never the caller's: an
		// interrupted statement would roll back the whole batch transaction.
		w.BeginJob()
		w.jobAudit = len(w.audit)
		ferr := callSafely(j.fn, w)
		if ferr == nil {
			ferr = w.flush()
		}
		if ferr != nil {
			w.RollbackJob()
			results[i] = ferr
			w.audit = w.audit[:w.jobAudit]
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO "+sp); err != nil {
				// The transaction is in an unknown state: fail everything.
				tx.Rollback()
				w.Abandon()
				err = fmt.Errorf("sqlite: rollback to savepoint: %w", err)
				for k, j := range batch {
					if results[k] == nil || k == i {
						results[k] = err
					}
					j.done <- results[k]
				}
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE "+sp); err != nil {
			// The call's writes cannot be told apart from the batch's: fail
			// the whole batch rather than report a write that commits.
			tx.Rollback()
			w.Abandon()
			err = fmt.Errorf("sqlite: release savepoint: %w", err)
			for _, j := range batch {
				j.done <- err
			}
			return err
		}
	}
	// The audit records of the jobs that stayed, in one go: a batch whose
	// audit rows cannot be written fails as a whole (fail closed).
	aerr := w.adopt(taken)
	var tree *tlog.Tree
	if aerr == nil {
		tree, aerr = w.writeAudit()
	}
	if aerr != nil {
		tx.Rollback()
		w.Abandon()
		for _, j := range batch {
			j.done <- aerr
		}
		return aerr
	}
	var cerr error
	if err := tx.Commit(); err != nil {
		w.Abandon()
		err = fmt.Errorf("sqlite: commit: %w", err)
		cerr = err
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	} else {
		w.Committed()
		w.db.publishAudit(tree)
		if w.afterCommit != nil {
			w.afterCommit()
		}
	}
	for i, j := range batch {
		j.done <- results[i]
	}
	return cerr
}

// writeTx implements store.Tx on the writer's open transaction: the shared
// Writer (resources and index rows) and the batch's audit records.
type writeTx struct {
	*sqlstore.Writer
	db          *DB
	tx          *sql.Tx
	ctx         context.Context
	afterCommit func()         // run on the writer goroutine after a successful commit
	audit       []pendingAudit // audit records of the batch's jobs, in order
	jobAudit    int            // len(audit) when the current job began
}

var _ store.Tx = (*writeTx)(nil)

func (w *writeTx) exec(query string, args ...any) error {
	_, err := w.Writer.Exec(query, args...)
	return err
}

func (w *writeTx) flush() error { return w.Writer.Flush() }

// callSafely runs fn and turns a panic into an error, so that one bad
// request cannot take the writer goroutine (and every later write) down.
func callSafely(fn func(store.Tx) error, tx store.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write function panicked: %v", r)
		}
	}()
	return fn(tx)
}
