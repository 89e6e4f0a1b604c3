package sqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
)

// The audit log lives in the same database as the data, so that a write
// and its audit record commit in one transaction. Records are appended by
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

// AuditHead returns the size and root hash of the committed audit log.
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

// AppendAudit appends records to the audit log in a transaction of their
// own and returns the index of the first once they are durable.
func (db *DB) AppendAudit(ctx context.Context, records ...[]byte) (uint64, error) {
	entries := make([]AuditEntry, len(records))
	err := db.write1(ctx, func(w *writeTx) error {
		for i, r := range records {
			w.appendAudit(r, &entries[i])
		}
		return nil
	})
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
	var nodeErr error
	put := func(id tlog.NodeID, hash []byte) {
		if nodeErr == nil {
			nodeErr = w.exec(`INSERT INTO audit_node (level, idx, hash) VALUES (?, ?, ?)`, id.Level, id.Index, hash)
		}
	}
	for _, a := range w.audit {
		i := tree.Append(a.record, put)
		if nodeErr != nil {
			return nil, fmt.Errorf("sqlite: audit node: %w", nodeErr)
		}
		if err := w.exec(`INSERT INTO audit_record (idx, record) VALUES (?, ?)`, i, a.record); err != nil {
			return nil, fmt.Errorf("sqlite: audit record %d: %w", i, err)
		}
		if a.entry != nil {
			a.entry.Index = i
		}
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
	rows, err := db.rpool.QueryContext(ctx, `SELECT idx, record FROM audit_record WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i uint64
		var rec []byte
		if err := rows.Scan(&i, &rec); err != nil {
			return fmt.Errorf("sqlite: audit records: %w", err)
		}
		if err := fn(i, rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditNodes reads stored tree nodes, for proofs (tlog.Inclusion,
// tlog.Consistency) and for loading the tree.
func (db *DB) AuditNodes() tlog.Nodes { return auditNodes{db} }

type auditNodes struct{ db *DB }

func (n auditNodes) Nodes(ctx context.Context, ids []tlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		err := n.db.read.QueryRowContext(ctx, `SELECT hash FROM audit_node WHERE level = ? AND idx = ?`, id.Level, id.Index).Scan(&out[i])
		if err != nil {
			return nil, fmt.Errorf("%w: level %d index %d: %v", tlog.ErrMissingNode, id.Level, id.Index, err)
		}
	}
	return out, nil
}
