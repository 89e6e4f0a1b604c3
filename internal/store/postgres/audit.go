package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
)

// The audit log with many writing nodes. Records enter the table
// audit_queue, durably, in the transaction of the write they describe
// (writeAudit) or, for reads, in small group-committed transactions of
// their own (AppendAudit). One node at a time, the sequencer, moves queued
// records into the log (the tables of sqlstore/auditlog.go): it gives them
// their indices in the order it finds them, hashes them into the Merkle
// tree and deletes them from the queue, in one transaction. So the log is
// one tree whatever the number of nodes, and a record is durable before
// the request it describes is answered, and in the tree a moment later.
//
// Which node sequences is decided by a session advisory lock (the lease):
// the node whose connection holds it sequences; when that node dies, its
// connection closes, the lock is released and another node takes it at
// its next try. Each sequencing transaction also takes a transaction
// advisory lock, so that two nodes that both believe they hold the lease
// (a lease connection broken unnoticed) still append one after the other,
// each reading the log's end afresh.

// Advisory lock keys of the audit log.
const (
	lockSequencer int64 = 0x6865737469610002 // the lease (session lock)
	lockAppend    int64 = 0x6865737469610003 // one sequencing transaction at a time
)

// How often the sequencer runs, and how often a node that does not hold
// the lease tries to take it and reloads the tree others appended to.
const (
	sequenceEvery = 20 * time.Millisecond
	followEvery   = 500 * time.Millisecond
	sequenceBatch = 2048
	appendBatch   = 512
)

// auditLog is a node's view of the log.
type auditLog struct {
	mu     sync.RWMutex
	tree   *tlog.Tree
	lease  *sql.Conn // the lease's connection, while this node holds it
	leader bool

	appends chan *appendReq
	kick    chan struct{}
	stop    chan struct{}
	exited  chan struct{} // closed when the appender has returned
	done    sync.WaitGroup
}

type appendReq struct {
	records [][]byte
	done    chan error
}

// startAudit loads the tree and starts the appender and the sequencer.
func (db *DB) startAudit(ctx context.Context) error {
	tree, err := db.loadTree(ctx, db.read)
	if err != nil {
		return err
	}
	db.audit.tree = tree
	db.audit.appends = make(chan *appendReq, 1024)
	db.audit.kick = make(chan struct{}, 1)
	db.audit.stop = make(chan struct{})
	db.audit.exited = make(chan struct{})
	db.audit.done.Add(2)
	go db.appender()
	go db.sequencer()
	return nil
}

// stopAudit stops the goroutines (sequencing what this node queued, if it
// holds the lease) and releases the lease.
func (db *DB) stopAudit() {
	if db.audit.stop == nil {
		return
	}
	close(db.audit.stop)
	db.audit.done.Wait()
	if db.audit.lease != nil {
		db.audit.lease.Close()
		db.audit.lease = nil
	}
}

// loadTree loads the tree of the records stored in the log.
func (db *DB) loadTree(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (*tlog.Tree, error) {
	var size uint64
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_record`).Scan(&size); err != nil {
		return nil, fmt.Errorf("postgres: audit log size: %w", err)
	}
	tree, err := tlog.Load(ctx, db.AuditNodes(), size)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	return tree, nil
}

// writeAudit queues the transaction's audit records in the transaction
// itself: they commit with its writes, or not at all.
func (w *writeTx) writeAudit() error {
	if len(w.audit) == 0 {
		return nil
	}
	if err := insertQueue(w.ctx, w.tx, w.audit); err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	w.db.kickSequencer()
	return nil
}

func insertQueue(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, records [][]byte) error {
	for len(records) > 0 {
		n := min(len(records), appendBatch)
		var q strings.Builder
		q.WriteString(`INSERT INTO audit_queue (record) VALUES `)
		args := make([]any, n)
		for i := range n {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d)", i+1)
			args[i] = records[i]
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		records = records[n:]
	}
	return nil
}

// AppendAudit appends records to the audit log (audit.Log): it returns
// once they are durable (committed to the queue); they reach the tree when
// the sequencer next runs. Concurrent calls share transactions (group
// commit).
func (db *DB) AppendAudit(ctx context.Context, records ...[]byte) error {
	if len(records) == 0 {
		return nil
	}
	r := &appendReq{records: records, done: make(chan error, 1)}
	select {
	case db.audit.appends <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.audit.stop:
		return errors.New("postgres: append audit: closed")
	}
	// Once queued, the request is written (or fails) and must be waited
	// for: the caller must not answer before its record is durable. An
	// appender that stopped meanwhile may have left it unwritten.
	select {
	case err := <-r.done:
		return err
	case <-db.audit.exited:
		select {
		case err := <-r.done:
			return err
		default:
			return errors.New("postgres: append audit: closed")
		}
	}
}

// appender commits queued AppendAudit requests, as many per transaction
// as wait.
func (db *DB) appender() {
	defer db.audit.done.Done()
	defer close(db.audit.exited)
	ctx := context.Background()
	for {
		var first *appendReq
		select {
		case first = <-db.audit.appends:
		case <-db.audit.stop:
			// Requests still queued fail: the callers are told.
			for {
				select {
				case r := <-db.audit.appends:
					r.done <- errors.New("postgres: append audit: closed")
				default:
					return
				}
			}
		}
		batch := []*appendReq{first}
		n := len(first.records)
	drain:
		for n < appendBatch {
			select {
			case r := <-db.audit.appends:
				batch = append(batch, r)
				n += len(r.records)
			default:
				break drain
			}
		}
		records := make([][]byte, 0, n)
		for _, r := range batch {
			records = append(records, r.records...)
		}
		err := db.appendQueue(ctx, records)
		if err != nil {
			err = fmt.Errorf("postgres: append audit: %w", redact(err))
		}
		for _, r := range batch {
			r.done <- err
		}
		if err == nil {
			db.kickSequencer()
		}
	}
}

func (db *DB) appendQueue(ctx context.Context, records [][]byte) error {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return err
	}
	if err := insertQueue(ctx, tx, records); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (db *DB) kickSequencer() {
	select {
	case db.audit.kick <- struct{}{}:
	default:
	}
}

// sequencer moves queued records into the log while this node holds the
// lease; otherwise it tries to take the lease and follows the log others
// append to.
func (db *DB) sequencer() {
	defer db.audit.done.Done()
	ctx := context.Background()
	tick := time.NewTicker(sequenceEvery)
	defer tick.Stop()
	var lastFollow time.Time
	for {
		select {
		case <-db.audit.stop:
			if db.audit.leader {
				_, _ = db.Sequence(ctx) // what this node queued last, if it can
			}
			return
		case <-tick.C:
		case <-db.audit.kick:
		}
		if !db.audit.leader && time.Since(lastFollow) >= followEvery {
			lastFollow = time.Now()
			db.tryLease(ctx)
			if !db.audit.leader {
				// The lease holder may be gone without its lock being
				// released yet (a vanished host, until the server's TCP
				// keepalive notices): sequencing takes turns, so any node
				// may move what waits in the queue.
				if n, err := db.QueuedAudit(ctx); err == nil && n > 0 {
					_, _ = db.Sequence(ctx)
				}
				_ = db.follow(ctx)
			}
		}
		if db.audit.leader {
			if _, err := db.Sequence(ctx); err != nil {
				// The lease may be lost with its connection; try again
				// from scratch at the next round.
				db.dropLease()
			}
		}
	}
}

// tryLease takes the sequencer's lease if no node holds it.
func (db *DB) tryLease(ctx context.Context) {
	conn, err := db.pool.Conn(ctx)
	if err != nil {
		return
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, lockSequencer).Scan(&ok); err != nil || !ok {
		conn.Close()
		return
	}
	db.audit.mu.Lock()
	db.audit.lease, db.audit.leader = conn, true
	db.audit.mu.Unlock()
}

func (db *DB) dropLease() {
	db.audit.mu.Lock()
	defer db.audit.mu.Unlock()
	if db.audit.lease != nil {
		// The connection is marked bad so that the pool closes it (which
		// releases its session lock) instead of reusing it.
		_ = db.audit.lease.Raw(func(any) error { return driver.ErrBadConn })
		db.audit.lease.Close()
	}
	db.audit.lease, db.audit.leader = nil, false
}

// Sequencing reports whether this node holds the sequencer's lease (and so
// runs the log's other duties, such as signing checkpoints).
func (db *DB) Sequencing() bool {
	db.audit.mu.RLock()
	defer db.audit.mu.RUnlock()
	return db.audit.leader
}

// follow reloads the tree when other nodes appended to the log.
func (db *DB) follow(ctx context.Context) error {
	var size uint64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_record`).Scan(&size); err != nil {
		return fmt.Errorf("postgres: audit log size: %w", err)
	}
	db.audit.mu.RLock()
	same := db.audit.tree.Size() == size
	db.audit.mu.RUnlock()
	if same {
		return nil
	}
	tree, err := tlog.Load(ctx, db.AuditNodes(), size)
	if err != nil {
		return fmt.Errorf("postgres: audit log: %w", err)
	}
	db.publishTree(tree)
	return nil
}

func (db *DB) publishTree(tree *tlog.Tree) {
	db.audit.mu.Lock()
	if tree.Size() >= db.audit.tree.Size() {
		db.audit.tree = tree
	}
	db.audit.mu.Unlock()
}

// Sequence moves queued records into the log until the queue is empty,
// and returns how many it moved. Any node may call it: sequencing
// transactions run one at a time.
func (db *DB) Sequence(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := db.sequence1(ctx)
		total += n
		if err != nil || n < sequenceBatch {
			return total, err
		}
	}
}

func (db *DB) sequence1(ctx context.Context) (int, error) {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return 0, fmt.Errorf("postgres: sequence audit: %w", redact(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAppend); err != nil {
		return 0, fmt.Errorf("postgres: sequence audit: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, record FROM audit_queue ORDER BY seq LIMIT $1`, sequenceBatch)
	if err != nil {
		return 0, fmt.Errorf("postgres: sequence audit: %w", err)
	}
	var seqs []int64
	var records [][]byte
	for rows.Next() {
		var s int64
		var r []byte
		if err := rows.Scan(&s, &r); err != nil {
			rows.Close()
			return 0, fmt.Errorf("postgres: sequence audit: %w", err)
		}
		seqs, records = append(seqs, s), append(records, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(records) == 0 {
		return 0, err
	}
	// The log's end, read under the lock: another node may have appended.
	var stored uint64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_record`).Scan(&stored); err != nil {
		return 0, fmt.Errorf("postgres: audit log size: %w", err)
	}
	db.audit.mu.RLock()
	tree := db.audit.tree.Clone()
	db.audit.mu.RUnlock()
	if stored != tree.Size() {
		if tree, err = tlog.Load(ctx, db.core.AuditNodes(tx), stored); err != nil {
			return 0, fmt.Errorf("postgres: audit log appended elsewhere: %w", err)
		}
	}
	w := db.core.NewWriter(ctx, tx)
	if err := w.AppendLog(tree, records, nil); err != nil {
		return 0, fmt.Errorf("postgres: sequence audit: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_queue WHERE seq = ANY($1)`, seqs); err != nil {
		return 0, fmt.Errorf("postgres: sequence audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("postgres: sequence audit: commit: %w", err)
	}
	db.publishTree(tree)
	return len(records), nil
}

// SyncAudit sequences every record committed so far (whichever node
// holds the lease: sequencing transactions take turns) and brings this
// node's tree up to date, so that what is read next sees them.
func (db *DB) SyncAudit(ctx context.Context) error {
	if _, err := db.Sequence(ctx); err != nil {
		return err
	}
	return db.follow(ctx)
}

// AuditHead returns the size and root hash of the log as this node last
// saw it: after its own sequencing, or its last follow of another node's.
func (db *DB) AuditHead() (size uint64, root []byte) {
	db.audit.mu.RLock()
	defer db.audit.mu.RUnlock()
	return db.audit.tree.Size(), db.audit.tree.Root()
}

// AuditRecords calls fn with the stored records of indices [from, to), in
// order.
func (db *DB) AuditRecords(ctx context.Context, from, to uint64, fn func(index uint64, record []byte) error) error {
	return db.core.AuditRecords(ctx, db.read, from, to, fn)
}

// AuditByPatient calls fn with the stored records tagged with tag whose
// index is below before, newest first, at most limit of them (limit 0:
// all).
func (db *DB) AuditByPatient(ctx context.Context, tag []byte, before uint64, limit int, fn func(index uint64, record []byte) error) error {
	return db.core.AuditByPatient(ctx, db.read, tag, before, limit, fn)
}

// AuditLog lists every record in index order, for tlog.Verify: first it
// sequences those still queued, so that the list has every record
// committed before the call.
func (db *DB) AuditLog(ctx context.Context, fn func(index uint64, record []byte) error) error {
	if err := db.SyncAudit(ctx); err != nil {
		return err
	}
	return db.AuditRecords(ctx, 0, math.MaxInt64, fn)
}

// AuditNodes reads stored tree nodes, for proofs and for loading the tree.
func (db *DB) AuditNodes() tlog.Nodes { return db.core.AuditNodes(db.read) }

// QueuedAudit returns the number of records committed and not yet in the
// log.
func (db *DB) QueuedAudit(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM audit_queue`).Scan(&n)
	return n, err
}

// VerifyAudit runs tlog.Verify on the whole log as one snapshot: it first
// sequences what is queued, then reads records and nodes in one read-only
// REPEATABLE READ transaction, so that nodes appending meanwhile (a live
// log) do not look like a removed tail or a stray node.
func (db *DB) VerifyAudit(ctx context.Context, checkpoints []tlog.Checkpoint) (*tlog.Report, error) {
	if _, err := db.Sequence(ctx); err != nil {
		return nil, err
	}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("postgres: verify audit: %w", redact(err))
	}
	defer tx.Rollback()
	// Records are read a page at a time: Verify reads nodes between
	// records, and one connection runs one query at a time.
	records := func(ctx context.Context, fn func(index uint64, record []byte) error) error {
		type rec struct {
			i uint64
			r []byte
		}
		next := uint64(0)
		for {
			rows, err := tx.QueryContext(ctx, `SELECT idx, record FROM audit_record WHERE idx >= $1 ORDER BY idx LIMIT $2`, next, verifyPage)
			if err != nil {
				return fmt.Errorf("postgres: audit records: %w", err)
			}
			var page []rec
			for rows.Next() {
				var x rec
				if err := rows.Scan(&x.i, &x.r); err != nil {
					rows.Close()
					return fmt.Errorf("postgres: audit records: %w", err)
				}
				page = append(page, x)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return fmt.Errorf("postgres: audit records: %w", err)
			}
			for _, x := range page {
				if err := fn(x.i, x.r); err != nil {
					return err
				}
			}
			if len(page) < verifyPage {
				return nil
			}
			next = page[len(page)-1].i + 1
		}
	}
	return tlog.Verify(ctx, records, db.core.AuditNodes(tx), checkpoints)
}

// verifyPage is how many records VerifyAudit reads at a time.
const verifyPage = 4096
