package sqlstore

import "fmt"

// EraseOwner removes, in the transaction, what a patient's erasure removes
// from the store (see store.Store): the index rows of every resource owner
// holds, which it marks deleted, and the bodies of every version sealed
// under owner's key. The rows are locked (PostgreSQL) until the
// transaction ends. If audit is not nil, the record it returns for those
// numbers is appended with appendAudit, in the transaction. It returns the
// numbers of resources and versions.
func (w *Writer) EraseOwner(owner string, audit func(resources, versions int) ([]byte, error), appendAudit func([]byte)) (resources, versions int, err error) {
	if err := w.flush(); err != nil {
		return 0, 0, err
	}
	type res struct {
		rid        int64
		typ, id    string
		keys, form []byte
	}
	rows, err := w.tx.QueryContext(w.ctx, w.core.Rebind(`SELECT rid, type, id, ix, ixf FROM resource WHERE owner = ?`+w.core.dialect.forUpdate()), owner)
	if err != nil {
		return 0, 0, err
	}
	var all []res
	for rows.Next() {
		var r res
		if err := rows.Scan(&r.rid, &r.typ, &r.id, &r.keys, &r.form); err != nil {
			rows.Close()
			return 0, 0, err
		}
		all = append(all, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, 0, err
	}
	for _, r := range all {
		keys := r.form // the rows' forms are all a delete needs
		if len(keys) == 0 {
			if keys, err = w.core.Open(owner, r.typ, r.id, r.keys); err != nil {
				return 0, 0, fmt.Errorf("open the key list of %s/%s: %w", r.typ, r.id, err)
			}
		}
		if err := w.DeleteIndex(r.rid, keys); err != nil {
			return 0, 0, err
		}
		if err := w.exec(`UPDATE resource SET deleted = 1, ix = NULL, ixf = NULL WHERE rid = ?`, r.rid); err != nil {
			return 0, 0, err
		}
	}
	res2, err := w.Exec(`UPDATE version SET body = NULL WHERE owner = ? AND body IS NOT NULL`, owner)
	if err != nil {
		return 0, 0, err
	}
	n, _ := res2.RowsAffected()
	if audit != nil {
		rec, err := audit(len(all), int(n))
		if err != nil {
			return 0, 0, err
		}
		appendAudit(rec)
	}
	return len(all), int(n), nil
}
