package sqlite

import (
	"context"
	"errors"
	"fmt"
)

// EraseOwner implements store.Store.
func (db *DB) EraseOwner(ctx context.Context, owner string, audit func(resources, versions int) ([]byte, error)) (resources, versions int, err error) {
	if owner == "" {
		return 0, 0, errors.New("sqlite: erase: no owner")
	}
	err = db.write1(ctx, func(w *writeTx) error {
		if err := w.flush(); err != nil {
			return err
		}
		type res struct {
			rid     int64
			typ, id string
			keys    []byte
			forms   []byte
		}
		rows, err := w.tx.QueryContext(w.ctx, `SELECT rid, type, id, ix, ixf FROM resource WHERE owner = ?`, owner)
		if err != nil {
			return err
		}
		var all []res
		for rows.Next() {
			var r res
			if err := rows.Scan(&r.rid, &r.typ, &r.id, &r.keys, &r.forms); err != nil {
				rows.Close()
				return err
			}
			all = append(all, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range all {
			keys := r.forms // the rows' forms are all a delete needs
			if len(keys) == 0 {
				if keys, err = db.core.Open(owner, r.typ, r.id, r.keys); err != nil {
					return fmt.Errorf("open the key list of %s/%s: %w", r.typ, r.id, err)
				}
			}
			if err := w.DeleteIndex(r.rid, keys); err != nil {
				return err
			}
			if err := w.exec(`UPDATE resource SET deleted = 1, ix = NULL, ixf = NULL WHERE rid = ?`, r.rid); err != nil {
				return err
			}
		}
		resources = len(all)
		res2, err := w.tx.ExecContext(w.ctx, `UPDATE version SET body = NULL WHERE owner = ? AND body IS NOT NULL`, owner)
		if err != nil {
			return err
		}
		n, _ := res2.RowsAffected()
		versions = int(n)
		if audit != nil {
			rec, err := audit(resources, versions)
			if err != nil {
				return err
			}
			w.AppendAudit(rec)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: erase: %w", err)
	}
	if err := db.Purge(ctx); err != nil {
		return 0, 0, err
	}
	return resources, versions, nil
}
