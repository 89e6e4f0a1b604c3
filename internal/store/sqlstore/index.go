package sqlstore

import (
	"database/sql"
	"strings"

	"github.com/hestiahealth/hestia/internal/store"
)

// Index rows are buffered per table and written with multi-row INSERT
// statements, which costs far less per row than one statement each. The
// buffer is flushed when it fills, before any read inside the transaction
// and at the end of each Update call, so reads and commits always see
// every row. ON CONFLICT DO NOTHING: a resource may carry the same value twice
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
	return "INSERT INTO " + t.name + " (" + t.columns + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ") + " ON CONFLICT DO NOTHING"
}

// stmt returns a statement prepared once per batch transaction.
func (w *Writer) stmt(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.tx.PrepareContext(w.ctx, w.core.Rebind(query))
	if err != nil {
		return nil, err
	}
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt)
	}
	w.stmts[query] = s
	return s, nil
}

func (w *Writer) exec(query string, args ...any) error {
	s, err := w.stmt(query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(w.ctx, args...)
	return err
}

func (w *Writer) add(t int, args ...any) error {
	p := &w.pending
	p.args[t] = append(p.args[t], args...)
	p.rows[t]++
	if p.rows[t] >= flushRows {
		return w.flushTable(t)
	}
	return nil
}

func (w *Writer) flushTable(t int) error {
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
func (w *Writer) flush() error {
	for t := range nTables {
		if err := w.flushTable(t); err != nil {
			return err
		}
	}
	return nil
}

// discardPending drops buffered rows of a call that failed.
func (w *Writer) discardPending() {
	for t := range nTables {
		w.pending.args[t] = w.pending.args[t][:0]
		w.pending.rows[t] = 0
	}
}

// PrepareIndex resolves the parameter ids of x's rows and encodes their
// key list (see rowkeys.go). Where key lists are sealed, it encodes it as
// two lists instead: forms, the rows as the index tables show them (to be
// stored unsealed), and keys, the values behind their blind-index forms
// (to be sealed). Otherwise forms is nil and keys is the whole list. The
// parameter ids, in row order, are kept for insertIndex.
func (w *Writer) PrepareIndex(x *store.Index) (keys, forms []byte, err error) {
	w.pids = w.pids[:0]
	if x == nil {
		return nil, nil, nil
	}
	// Writers that are nil write nothing: whole list k, or forms f and
	// values v.
	var k, f, v *keyWriter
	if w.core.cipher == nil {
		k = &keyWriter{b: make([]byte, 0, 96*x.Len())}
	} else {
		f = &keyWriter{b: make([]byte, 0, 64*x.Len())}
		v = &keyWriter{b: make([]byte, 0, 32*x.Len())}
	}
	row := func(t int, key string, grp int32) error {
		p, err := w.pid(key)
		w.pids = append(w.pids, p)
		k.row(t, p, grp)
		f.row(t, p, grp)
		return err
	}
	// formed writes the forms and values of a string or token row (two
	// of each) or a uri row (one: ix2 and v2 empty, two false).
	formed := func(ix1, ix2, v1, v2 string, two bool) {
		k.str(ix1)
		f.str(ix1)
		if two {
			k.str(ix2)
			f.str(ix2)
		}
		k.str(v1)
		f.str("")
		v.str(v1)
		if two {
			k.str(v2)
			f.str("")
			v.str(v2)
		}
	}
	for _, r := range x.Strings {
		if err := row(tString, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		formed(r.IxNorm, r.IxExact, r.Norm, r.Exact, true)
	}
	for _, r := range x.Tokens {
		if err := row(tToken, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		formed(r.IxCode, r.IxSystem, r.Code, r.System, true)
	}
	for _, r := range x.References {
		if err := row(tRef, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		for _, kw := range []*keyWriter{k, f} {
			kw.str(r.ID)
			kw.str(r.Type)
			kw.str(r.URL)
		}
	}
	for _, r := range x.Dates {
		if err := row(tDate, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		for _, kw := range []*keyWriter{k, f} {
			kw.int(r.Lo)
			kw.int(r.Hi)
		}
	}
	for _, r := range x.Numbers {
		if err := row(tNumber, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		for _, kw := range []*keyWriter{k, f} {
			kw.float(r.Lo)
			kw.float(r.Hi)
		}
	}
	for _, r := range x.Quantities {
		if err := row(tQuantity, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		for _, kw := range []*keyWriter{k, f} {
			kw.float(r.Lo)
			kw.float(r.Hi)
			kw.str(r.Code)
			kw.str(r.System)
			kw.str(r.Unit)
		}
	}
	for _, r := range x.URIs {
		if err := row(tURI, r.Param, r.Group); err != nil {
			return nil, nil, err
		}
		formed(r.IxURI, "", r.URI, "", false)
	}
	if k != nil {
		return k.b, nil, nil
	}
	return v.b, f.b, nil
}

// InsertIndex buffers the rows of x for resource rid, with the parameter
// ids PrepareIndex resolved. Only index forms reach the tables.
func (w *Writer) InsertIndex(rid int64, x *store.Index) error {
	if x == nil {
		return nil
	}
	i := 0
	next := func() int64 { p := w.pids[i]; i++; return p }
	f := w.core.dialect.form
	for _, r := range x.Strings {
		if err := w.add(tString, next(), f(r.IxNorm), f(r.IxExact), rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Tokens {
		if err := w.add(tToken, next(), f(r.IxCode), f(r.IxSystem), rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.References {
		if err := w.add(tRef, next(), r.ID, r.Type, r.URL, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Dates {
		if err := w.add(tDate, next(), r.Lo, r.Hi, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Numbers {
		if err := w.add(tNumber, next(), r.Lo, r.Hi, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Quantities {
		if err := w.add(tQuantity, next(), r.Lo, r.Hi, r.Code, r.System, r.Unit, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.URIs {
		if err := w.add(tURI, next(), f(r.IxURI), rid, r.Group); err != nil {
			return err
		}
	}
	return nil
}

// DeleteIndex removes the rows listed in a resource's (unsealed) key list.
func (w *Writer) DeleteIndex(rid int64, keys []byte) error {
	rows, err := decodeRows(keys, nil)
	if err != nil {
		return err
	}
	for i := range rows {
		if err := w.exec(deleteSQL(tables[rows[i].table]), rows[i].deleteArgs(w.core.dialect, rid)...); err != nil {
			return err
		}
	}
	return nil
}
