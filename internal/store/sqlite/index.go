package sqlite

import (
	"database/sql"
	"strings"

	"github.com/hestiahealth/hestia/internal/store"
)

// Index rows are buffered per table and written with multi-row INSERT
// statements, which costs far less per row than one statement each. The
// buffer is flushed when it fills, before any read inside the transaction
// and at the end of each Update call, so reads and commits always see
// every row. INSERT OR IGNORE: a resource may carry the same value twice
// (two identical codings), and one row suffices.

type indexTable struct {
	name    string
	columns string
	width   int
}

const (
	tString = iota
	tToken
	tRef
	tDate
	tNumber
	tQuantity
	tURI
	nTables
)

var tables = [nTables]indexTable{
	tString:   {"ix_string", "pid, norm, exact, rid, grp", 5},
	tToken:    {"ix_token", "pid, code, system, rid, grp", 5},
	tRef:      {"ix_ref", "pid, tid, ttype, url, rid, grp", 6},
	tDate:     {"ix_date", "pid, lo, hi, rid, grp", 5},
	tNumber:   {"ix_number", "pid, lo, hi, rid, grp", 5},
	tQuantity: {"ix_quantity", "pid, lo, hi, code, system, unit, rid, grp", 8},
	tURI:      {"ix_uri", "pid, uri, rid, grp", 4},
}

// flushRows is the largest number of rows in one INSERT (SQLite allows
// 32,766 parameters; 64 rows of at most 8 columns stay far below).
const flushRows = 64

type pendingRows struct {
	args [nTables][]any
	rows [nTables]int
}

func insertSQL(t indexTable, rows int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", t.width), ", ") + ")"
	return "INSERT OR IGNORE INTO " + t.name + " (" + t.columns + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")
}

// stmt returns a statement prepared once per batch transaction.
func (w *writeTx) stmt(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.tx.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, err
	}
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt)
	}
	w.stmts[query] = s
	return s, nil
}

func (w *writeTx) exec(query string, args ...any) error {
	s, err := w.stmt(query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(w.ctx, args...)
	return err
}

func (w *writeTx) add(t int, args ...any) error {
	p := &w.pending
	p.args[t] = append(p.args[t], args...)
	p.rows[t]++
	if p.rows[t] >= flushRows {
		return w.flushTable(t)
	}
	return nil
}

func (w *writeTx) flushTable(t int) error {
	p := &w.pending
	if p.rows[t] == 0 {
		return nil
	}
	q, ok := w.insertSQL[t][p.rows[t]]
	if !ok {
		q = insertSQL(tables[t], p.rows[t])
		if w.insertSQL[t] == nil {
			w.insertSQL[t] = make(map[int]string)
		}
		w.insertSQL[t][p.rows[t]] = q
	}
	err := w.exec(q, p.args[t]...)
	p.args[t] = p.args[t][:0]
	p.rows[t] = 0
	return err
}

// flush writes every buffered row.
func (w *writeTx) flush() error {
	for t := range nTables {
		if err := w.flushTable(t); err != nil {
			return err
		}
	}
	return nil
}

// discardPending drops buffered rows of a call that failed.
func (w *writeTx) discardPending() {
	for t := range nTables {
		w.pending.args[t] = w.pending.args[t][:0]
		w.pending.rows[t] = 0
	}
}

func (w *writeTx) insertIndex(rid int64, x *store.Index) error {
	for _, r := range x.Strings {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tString, pid, r.Norm, r.Exact, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Tokens {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tToken, pid, r.Code, r.System, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.References {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tRef, pid, r.ID, r.Type, r.URL, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Dates {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tDate, pid, r.Lo, r.Hi, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Numbers {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tNumber, pid, r.Lo, r.Hi, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Quantities {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tQuantity, pid, r.Lo, r.Hi, r.Code, r.System, r.Unit, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.URIs {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.add(tURI, pid, r.URI, rid, r.Group); err != nil {
			return err
		}
	}
	return nil
}
