package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hestiahealth/hestia/internal/store"
)

// Writer writes resources and their index rows in a driver's open
// transaction. It buffers index rows (index.go): Flush before the
// transaction commits. A driver that runs several calls in one transaction
// (SQLite's group commit) marks each with BeginJob, and RollbackJob when
// the call's savepoint is rolled back.
type Writer struct {
	core      *Core
	tx        *sql.Tx
	ctx       context.Context
	newParams map[string]int64 // parameter keys registered in this transaction
	jobParams []string         // ... by the current call (lost if it rolls back)
	stmts     map[string]*sql.Stmt
	pending   pendingRows
	pids      []int64 // parameter ids of the rows being written
	insertSQL [nTables]map[int]string
}

// NewWriter returns a Writer on tx. Statements run under ctx.
func (c *Core) NewWriter(ctx context.Context, tx *sql.Tx) *Writer {
	return &Writer{core: c, tx: tx, ctx: ctx}
}

// Exec runs a statement of the shared SQL (? placeholders) in the
// transaction, prepared once per transaction.
func (w *Writer) Exec(query string, args ...any) (sql.Result, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(w.ctx, args...)
}

// QueryRow runs a query of the shared SQL (? placeholders) in the
// transaction.
func (w *Writer) QueryRow(query string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(w.ctx, w.core.Rebind(query), args...)
}

// BeginJob marks the start of one caller's writes.
func (w *Writer) BeginJob() { w.jobParams = w.jobParams[:0] }

// RollbackJob forgets what the current caller buffered and registered: its
// writes were rolled back.
func (w *Writer) RollbackJob() {
	w.discardPending()
	for _, k := range w.jobParams {
		delete(w.newParams, k)
	}
	w.jobParams = w.jobParams[:0]
}

// Committed publishes the parameter ids the transaction registered; call it
// after the commit.
func (w *Writer) Committed() {
	if len(w.newParams) > 0 {
		w.core.params.put(w.newParams)
	}
	w.newParams = nil
}

// Abandon forgets the transaction's parameter ids: it rolled back.
func (w *Writer) Abandon() { w.newParams = nil }

// Flush writes every buffered index row.
func (w *Writer) Flush() error { return w.flush() }

// Read returns the current version of a resource as the transaction sees it.
func (w *Writer) Read(typ, id string) (*store.Resource, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	return w.core.read(w.ctx, w.core.wrap(w.tx), typ, id)
}

// Search runs a query as the transaction sees it.
func (w *Writer) Search(q *store.Query) (*store.SearchResult, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	return w.core.search(w.ctx, w.core.wrap(w.tx), w, q)
}

// Put stores a new version (store.Tx).
func (w *Writer) Put(wr *store.Write) error {
	if wr.Version < 1 {
		return fmt.Errorf("put %s/%s: version %d: %w", wr.Type, wr.ID, wr.Version, store.ErrConflict)
	}
	var rid int64
	var index *store.Index
	if !wr.Deleted {
		index = wr.Index
	}
	keys, forms, err := w.PrepareIndex(index)
	if err != nil {
		return fmt.Errorf("index %s/%s: %w", wr.Type, wr.ID, err)
	}
	sealed, err := w.core.Seal(wr.Owner, wr.Type, wr.ID, keys)
	if err != nil {
		return fmt.Errorf("index %s/%s: %w", wr.Type, wr.ID, err)
	}
	if wr.Version == 1 {
		// A new resource: insert directly; the UNIQUE (type, id) constraint
		// reports one that exists (or that a concurrent writer inserts).
		ins, err := w.stmt(`INSERT INTO resource (type, id, version, updated, deleted, owner, ix, ixf) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (type, id) DO NOTHING RETURNING rid`)
		if err != nil {
			return fmt.Errorf("insert %s/%s: %w", wr.Type, wr.ID, err)
		}
		err = ins.QueryRowContext(w.ctx, wr.Type, wr.ID, wr.Version, Micros(wr.Updated), boolInt(wr.Deleted), wr.Owner, NilIfEmpty(sealed), NilIfEmpty(forms)).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("put %s/%s: resource exists: %w", wr.Type, wr.ID, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert %s/%s: %w", wr.Type, wr.ID, err)
		}
	} else {
		// Locked (PostgreSQL) until the transaction ends: the key list read
		// here is the one whose rows are replaced below.
		sel, err := w.stmt(`SELECT rid, version, owner, ix, ixf FROM resource WHERE type = ? AND id = ?` + w.core.dialect.forUpdate())
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", wr.Type, wr.ID, err)
		}
		if err := w.flush(); err != nil { // buffered rows of an earlier version
			return fmt.Errorf("update %s/%s: %w", wr.Type, wr.ID, err)
		}
		var cur int64
		var oldKeys, oldForms []byte
		var oldOwner string
		err = sel.QueryRowContext(w.ctx, wr.Type, wr.ID).Scan(&rid, &cur, &oldOwner, &oldKeys, &oldForms)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("put %s/%s: expected version %d, resource does not exist: %w", wr.Type, wr.ID, wr.Version-1, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", wr.Type, wr.ID, err)
		}
		if cur+1 != wr.Version {
			return fmt.Errorf("put %s/%s: expected version %d, stored %d: %w", wr.Type, wr.ID, wr.Version-1, cur, store.ErrConflict)
		}
		// The version in the WHERE clause makes the update a compare and
		// swap: of two concurrent transactions that read the same version
		// (PostgreSQL), the second updates nothing once the first commits.
		upd, err := w.stmt(`UPDATE resource SET version = ?, updated = ?, deleted = ?, owner = ?, ix = ?, ixf = ? WHERE rid = ? AND version = ?`)
		if err != nil {
			return fmt.Errorf("update %s/%s: %w", wr.Type, wr.ID, err)
		}
		res, err := upd.ExecContext(w.ctx, wr.Version, Micros(wr.Updated), boolInt(wr.Deleted), wr.Owner, NilIfEmpty(sealed), NilIfEmpty(forms), rid, cur)
		if err != nil {
			return fmt.Errorf("update %s/%s: %w", wr.Type, wr.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("put %s/%s: expected version %d, changed concurrently: %w", wr.Type, wr.ID, wr.Version-1, store.ErrConflict)
		}
		// The old rows are deleted by their forms: the forms list has them,
		// and only a whole key list of an older write needs opening.
		old := oldForms
		if len(old) == 0 {
			if old, err = w.core.Open(oldOwner, wr.Type, wr.ID, oldKeys); err != nil {
				return fmt.Errorf("update %s/%s: %w", wr.Type, wr.ID, err)
			}
		}
		if err := w.DeleteIndex(rid, old); err != nil {
			return fmt.Errorf("update %s/%s: %w", wr.Type, wr.ID, err)
		}
	}
	var body any
	if !wr.Deleted {
		body = wr.Body
	}
	if err := w.exec(`INSERT INTO version (rid, version, updated, method, owner, body) VALUES (?, ?, ?, ?, ?, ?)`,
		rid, wr.Version, Micros(wr.Updated), int(wr.Method), wr.Owner, body); err != nil {
		return fmt.Errorf("insert version %s/%s/%d: %w", wr.Type, wr.ID, wr.Version, err)
	}
	if err := w.InsertIndex(rid, index); err != nil {
		return fmt.Errorf("index %s/%s: %w", wr.Type, wr.ID, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
