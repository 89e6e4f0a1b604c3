package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/store"
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
	w := &writeTx{db: db, tx: tx, ctx: ctx}
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
		w.jobParams = w.jobParams[:0]
		w.jobAudit = len(w.audit)
		ferr := callSafely(j.fn, w)
		if ferr == nil {
			ferr = w.flush()
		}
		if ferr != nil {
			w.discardPending()
			results[i] = ferr
			w.forgetJobParams()
			w.audit = w.audit[:w.jobAudit]
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO "+sp); err != nil {
				// The transaction is in an unknown state: fail everything.
				tx.Rollback()
				w.discardParams()
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
			w.discardParams()
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
		w.discardParams()
		for _, j := range batch {
			j.done <- aerr
		}
		return aerr
	}
	var cerr error
	if err := tx.Commit(); err != nil {
		w.discardParams()
		err = fmt.Errorf("sqlite: commit: %w", err)
		cerr = err
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	} else {
		w.publishParams()
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

// writeTx implements store.Tx on the writer's open transaction.
type writeTx struct {
	db          *DB
	tx          *sql.Tx
	ctx         context.Context
	newParams   map[string]int64 // parameter keys registered in this batch
	jobParams   []string         // ... by the current job (lost if it rolls back)
	stmts       map[string]*sql.Stmt
	pending     pendingRows
	afterCommit func()         // run on the writer goroutine after a successful commit
	audit       []pendingAudit // audit records of the batch's jobs, in order
	jobAudit    int            // len(audit) when the current job began
	pids        []int64        // parameter ids of the rows being written
	insertSQL   [nTables]map[int]string
}

var _ store.Tx = (*writeTx)(nil)

func (w *writeTx) Read(typ, id string) (*store.Resource, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	return readCurrent(w.ctx, w.tx, typ, id)
}

func (w *writeTx) Search(q *store.Query) (*store.SearchResult, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	return search(w.ctx, w.db, w.tx, w, q)
}

func (w *writeTx) Put(wr *store.Write) error {
	if wr.Version < 1 {
		return fmt.Errorf("sqlite: put %s/%s: version %d: %w", wr.Type, wr.ID, wr.Version, store.ErrConflict)
	}
	ctx := w.ctx
	var rid, cur int64
	var index *store.Index
	if !wr.Deleted {
		index = wr.Index
	}
	keys, forms, err := w.prepareIndex(index)
	if err != nil {
		return fmt.Errorf("sqlite: index %s/%s: %w", wr.Type, wr.ID, err)
	}
	sealed, err := w.db.seal(wr.Owner, wr.Type, wr.ID, keys)
	if err != nil {
		return fmt.Errorf("sqlite: index %s/%s: %w", wr.Type, wr.ID, err)
	}
	if wr.Version == 1 {
		// A new resource: insert directly; the UNIQUE (type, id) constraint
		// reports one that exists.
		ins, err := w.stmt(`INSERT INTO resource (type, id, version, updated, deleted, owner, ix, ixf) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("sqlite: insert %s/%s: %w", wr.Type, wr.ID, err)
		}
		res, err := ins.ExecContext(ctx, wr.Type, wr.ID, wr.Version, micros(wr.Updated), boolInt(wr.Deleted), wr.Owner, nilIfEmpty(sealed), nilIfEmpty(forms))
		if err != nil {
			if isConstraint(err) {
				return fmt.Errorf("sqlite: put %s/%s: resource exists: %w", wr.Type, wr.ID, store.ErrConflict)
			}
			return fmt.Errorf("sqlite: insert %s/%s: %w", wr.Type, wr.ID, err)
		}
		if rid, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: insert %s/%s: %w", wr.Type, wr.ID, err)
		}
	} else {
		sel, err := w.stmt(`SELECT rid, version, owner, ix, ixf FROM resource WHERE type = ? AND id = ?`)
		if err != nil {
			return fmt.Errorf("sqlite: put %s/%s: %w", wr.Type, wr.ID, err)
		}
		if err := w.flush(); err != nil { // buffered rows of an earlier version
			return fmt.Errorf("sqlite: update %s/%s: %w", wr.Type, wr.ID, err)
		}
		var oldKeys, oldForms []byte
		var oldOwner string
		err = sel.QueryRowContext(ctx, wr.Type, wr.ID).Scan(&rid, &cur, &oldOwner, &oldKeys, &oldForms)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: put %s/%s: expected version %d, resource does not exist: %w", wr.Type, wr.ID, wr.Version-1, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: put %s/%s: %w", wr.Type, wr.ID, err)
		}
		if cur+1 != wr.Version {
			return fmt.Errorf("sqlite: put %s/%s: expected version %d, stored %d: %w", wr.Type, wr.ID, wr.Version-1, cur, store.ErrConflict)
		}
		if err := w.exec(`UPDATE resource SET version = ?, updated = ?, deleted = ?, owner = ?, ix = ?, ixf = ? WHERE rid = ?`,
			wr.Version, micros(wr.Updated), boolInt(wr.Deleted), wr.Owner, nilIfEmpty(sealed), nilIfEmpty(forms), rid); err != nil {
			return fmt.Errorf("sqlite: update %s/%s: %w", wr.Type, wr.ID, err)
		}
		// The old rows are deleted by their forms: the forms list has them,
		// and only a whole key list of an older write needs opening.
		old := oldForms
		if len(old) == 0 {
			if old, err = w.db.open(oldOwner, wr.Type, wr.ID, oldKeys); err != nil {
				return fmt.Errorf("sqlite: update %s/%s: %w", wr.Type, wr.ID, err)
			}
		}
		if err := w.deleteIndex(rid, old); err != nil {
			return fmt.Errorf("sqlite: update %s/%s: %w", wr.Type, wr.ID, err)
		}
	}
	var body any
	if !wr.Deleted {
		body = wr.Body
	}
	if err := w.exec(`INSERT INTO version (rid, version, updated, method, owner, body) VALUES (?, ?, ?, ?, ?, ?)`,
		rid, wr.Version, micros(wr.Updated), int(wr.Method), wr.Owner, body); err != nil {
		return fmt.Errorf("sqlite: insert version %s/%s/%d: %w", wr.Type, wr.ID, wr.Version, err)
	}
	if err := w.insertIndex(rid, index); err != nil {
		return fmt.Errorf("sqlite: index %s/%s: %w", wr.Type, wr.ID, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isConstraint reports a SQLite constraint violation (such as UNIQUE).
func isConstraint(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
	}
	return false
}

// seal seals a key list with the configured cipher (an empty list stays
// empty: it holds nothing).
func (db *DB) seal(owner, typ, id string, keys []byte) ([]byte, error) {
	if db.cfg.Cipher == nil || len(keys) == 0 {
		return keys, nil
	}
	return db.cfg.Cipher.SealKeys(owner, typ+"/"+id, keys)
}

// keyList returns the whole key list of a resource from its columns ix
// and ixf (see rowkeys.go): ix opened, and merged with ixf if there is one.
func (db *DB) keyList(owner, typ, id string, ix, ixf []byte) ([]byte, error) {
	plain, err := db.open(owner, typ, id, ix)
	if err != nil || len(ixf) == 0 {
		return plain, err
	}
	return mergeKeys(ixf, plain)
}

// open opens a key list sealed by seal.
func (db *DB) open(owner, typ, id string, sealed []byte) ([]byte, error) {
	if db.cfg.Cipher == nil || len(sealed) == 0 {
		return sealed, nil
	}
	return db.cfg.Cipher.OpenKeys(owner, typ+"/"+id, sealed)
}

// nilIfEmpty stores an empty list as NULL: a resource without index rows,
// without values behind forms, or (forms) a build whose key lists are not
// sealed.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
