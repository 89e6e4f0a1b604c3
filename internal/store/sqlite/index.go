package sqlite

import (
	"database/sql"

	"github.com/hestiahealth/hestia/internal/store"
)

// Index rows are written with INSERT OR IGNORE: a resource may carry the
// same value twice (two identical codings), and one row suffices.
const (
	insString   = `INSERT OR IGNORE INTO ix_string (pid, norm, exact, rid, grp) VALUES (?, ?, ?, ?, ?)`
	insToken    = `INSERT OR IGNORE INTO ix_token (pid, code, system, rid, grp) VALUES (?, ?, ?, ?, ?)`
	insRef      = `INSERT OR IGNORE INTO ix_ref (pid, tid, ttype, url, rid, grp) VALUES (?, ?, ?, ?, ?, ?)`
	insDate     = `INSERT OR IGNORE INTO ix_date (pid, lo, hi, rid, grp) VALUES (?, ?, ?, ?, ?)`
	insNumber   = `INSERT OR IGNORE INTO ix_number (pid, lo, hi, rid, grp) VALUES (?, ?, ?, ?, ?)`
	insQuantity = `INSERT OR IGNORE INTO ix_quantity (pid, lo, hi, code, system, unit, rid, grp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	insURI      = `INSERT OR IGNORE INTO ix_uri (pid, uri, rid, grp) VALUES (?, ?, ?, ?)`
)

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

func (w *writeTx) insertIndex(rid int64, x *store.Index) error {
	for _, r := range x.Strings {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insString, pid, r.Norm, r.Exact, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Tokens {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insToken, pid, r.Code, r.System, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.References {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insRef, pid, r.ID, r.Type, r.URL, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Dates {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insDate, pid, r.Lo, r.Hi, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Numbers {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insNumber, pid, r.Lo, r.Hi, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.Quantities {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insQuantity, pid, r.Lo, r.Hi, r.Code, r.System, r.Unit, rid, r.Group); err != nil {
			return err
		}
	}
	for _, r := range x.URIs {
		pid, err := w.pid(r.Param)
		if err != nil {
			return err
		}
		if err := w.exec(insURI, pid, r.URI, rid, r.Group); err != nil {
			return err
		}
	}
	return nil
}
