package sqlite

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
)

// The audit log lives in the same database as the data, so that a write
// and its audit record commit in one transaction. Each record's row holds
// its leaf hash; tree nodes are stored from level storedLevel up, and
// those below are computed from the leaves (sqlstore/auditlog.go). Records are appended by
// jobs of the writer (AppendAudit): the batch's records are given their
// log indices and hashed into the tree just before the batch commits, in
// job order, leaving out those of jobs that rolled back; the tree the
// readers see is replaced only after the commit. A batch whose audit rows
// cannot be written fails as a whole.

// auditLog is the tree of committed records.
type auditLog struct {
	mu   sync.RWMutex
	tree *tlog.Tree
}

func (db *DB) loadAudit(ctx context.Context) error {
	var size uint64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_record`).Scan(&size); err != nil {
		return fmt.Errorf("sqlite: audit log size: %w", err)
	}
	tree, err := tlog.Load(ctx, db.AuditNodes(), size)
	if err != nil {
		return fmt.Errorf("sqlite: audit log: %w", err)
	}
	db.audit.tree = tree
	return nil
}

// AuditHead returns the size and root hash of the committed audit log, as
// this process last appended to it (another process's appends show after
// this one's next).
func (db *DB) AuditHead() (size uint64, root []byte) {
	db.audit.mu.RLock()
	defer db.audit.mu.RUnlock()
	return db.audit.tree.Size(), db.audit.tree.Root()
}

// AuditEntry is the log index an appended record was given, set when the
// writer's batch commits.
type AuditEntry struct{ Index uint64 }

// AppendAudit implements store.Tx: the record is appended when the batch
// commits, unless the job that appended it rolls back.
func (w *writeTx) AppendAudit(record []byte) { w.appendAudit(record, nil) }

// appendAudit is AppendAudit, and sets e to the record's index when the
// batch commits.
func (w *writeTx) appendAudit(record []byte, e *AuditEntry) {
	w.audit = append(w.audit, pendingAudit{record: record, entry: e})
}

type pendingAudit struct {
	record []byte
	entry  *AuditEntry
}

// AppendAudit appends records to the audit log and returns the index of
// the first once they are durable. Concurrent calls share the writer's
// batches (group commit).
func (db *DB) AppendAudit(ctx context.Context, records ...[]byte) (uint64, error) {
	entries := make([]AuditEntry, len(records))
	j := &job{ctx: ctx, done: make(chan error, 1), records: make([]pendingAudit, len(records))}
	for i, r := range records {
		j.records[i] = pendingAudit{record: r, entry: &entries[i]}
	}
	err := db.run(ctx, j)
	if err != nil {
		return 0, fmt.Errorf("sqlite: append audit: %w", err)
	}
	if len(entries) == 0 {
		return 0, nil
	}
	return entries[0].Index, nil
}

// writeAudit gives the batch's audit records their indices, inserts them
// and the tree nodes they complete, and returns the tree to publish after
// the commit (nil when the batch has none).
func (w *writeTx) writeAudit() (*tlog.Tree, error) {
	if len(w.audit) == 0 {
		return nil, nil
	}
	w.db.audit.mu.RLock()
	tree := w.db.audit.tree.Clone()
	w.db.audit.mu.RUnlock()
	// Another process (the hestia command beside a running server) may
	// have appended since: the log's end is read under the write lock,
	// and the tree loaded again if it moved.
	var stored uint64
	if err := w.tx.QueryRowContext(w.ctx, `SELECT coalesce(max(idx) + 1, 0) FROM audit_record`).Scan(&stored); err != nil {
		return nil, fmt.Errorf("sqlite: audit log size: %w", err)
	}
	if stored != tree.Size() {
		t, err := tlog.Load(w.ctx, w.db.AuditNodes(), stored)
		if err != nil {
			return nil, fmt.Errorf("sqlite: audit log appended elsewhere: %w", err)
		}
		tree = t
	}
	entries := make([]*uint64, len(w.audit))
	records := make([][]byte, len(w.audit))
	for i, a := range w.audit {
		records[i] = a.record
		if a.entry != nil {
			entries[i] = &a.entry.Index
		}
	}
	if err := w.AppendLog(tree, records, entries); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return tree, nil
}

// publishAudit makes a committed batch's tree the one readers see.
func (db *DB) publishAudit(tree *tlog.Tree) {
	if tree == nil {
		return
	}
	db.audit.mu.Lock()
	db.audit.tree = tree
	db.audit.mu.Unlock()
}

// AuditRecords calls fn with the stored records of indices [from, to), in
// order.
func (db *DB) AuditRecords(ctx context.Context, from, to uint64, fn func(index uint64, record []byte) error) error {
	return db.core.AuditRecords(ctx, db.rpool, from, to, fn)
}

// AuditByPatient calls fn with the stored records tagged with tag whose
// index is below before, newest first, at most limit of them (limit 0:
// all).
func (db *DB) AuditByPatient(ctx context.Context, tag []byte, before uint64, limit int, fn func(index uint64, record []byte) error) error {
	return db.core.AuditByPatient(ctx, db.rpool, tag, before, limit, fn)
}

// AuditLog lists every stored record in index order, for tlog.Verify.
func (db *DB) AuditLog(ctx context.Context, fn func(index uint64, record []byte) error) error {
	return db.AuditRecords(ctx, 0, math.MaxInt64, fn)
}

// AuditNodes reads stored tree nodes, for proofs (tlog.Inclusion,
// tlog.Consistency) and for loading the tree.
func (db *DB) AuditNodes() tlog.Nodes { return db.core.AuditNodes(db.rpool) }
