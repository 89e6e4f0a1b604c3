package sqlite

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hestiahealth/hestia/internal/store"
)

const reindexBatch = 200

// Reindex gives the index rows of every resource new index forms, while
// requests go on: each resource's rows are rebuilt from its key list,
// encode sets their index forms (a new blind-index key's), and the rows
// are replaced with what it set, in batches of one transaction each. A
// resource whose forms encode leaves as they were is skipped, so a run
// that was interrupted resumes where it stopped; one that changed meanwhile
// (a newer write indexed it afresh, an erasure removed it) is left as it
// is. It returns the number of resources whose rows were replaced.
func (db *DB) Reindex(ctx context.Context, encode func(*store.Index) error, progress func(done, total int)) (int, error) {
	var total int
	if err := db.rpool.QueryRowContext(ctx, `SELECT count(*) FROM resource WHERE ix IS NOT NULL`).Scan(&total); err != nil {
		return 0, fmt.Errorf("sqlite: reindex: %w", err)
	}
	params, err := db.paramKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: reindex: %w", err)
	}
	type item struct {
		rid            int64
		owner, typ, id string
		sealed, forms  []byte
		oldPlain       []byte
		x              *store.Index
	}
	var after int64
	done, changed := 0, 0
	for {
		rows, err := db.rpool.QueryContext(ctx, `SELECT rid, owner, type, id, ix, ixf FROM resource WHERE rid > ? AND ix IS NOT NULL ORDER BY rid LIMIT ?`, after, reindexBatch)
		if err != nil {
			return changed, fmt.Errorf("sqlite: reindex: %w", err)
		}
		var batch []item
		n := 0
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.rid, &it.owner, &it.typ, &it.id, &it.sealed, &it.forms); err != nil {
				rows.Close()
				return changed, fmt.Errorf("sqlite: reindex: %w", err)
			}
			after = it.rid
			n++
			if it.oldPlain, err = db.keyList(it.owner, it.typ, it.id, it.sealed, it.forms); err != nil {
				rows.Close()
				return changed, fmt.Errorf("sqlite: reindex: open the key list of %s/%s: %w", it.typ, it.id, err)
			}
			old, x, err := decodeIndex(ctx, db, it.oldPlain, params)
			if err != nil {
				rows.Close()
				return changed, fmt.Errorf("sqlite: reindex %s/%s: %w", it.typ, it.id, err)
			}
			if err := encode(x); err != nil {
				rows.Close()
				return changed, fmt.Errorf("sqlite: reindex %s/%s: %w", it.typ, it.id, err)
			}
			if sameForms(old, x) {
				continue
			}
			it.x = x
			batch = append(batch, it)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return changed, fmt.Errorf("sqlite: reindex: %w", err)
		}
		if n == 0 {
			return changed, nil
		}
		if len(batch) > 0 {
			err = db.write1(ctx, func(w *writeTx) error {
				for _, it := range batch {
					var current, currentForms []byte
					if err := w.tx.QueryRowContext(w.ctx, `SELECT ix, ixf FROM resource WHERE rid = ?`, it.rid).Scan(&current, &currentForms); err != nil {
						return err
					}
					if !bytes.Equal(current, it.sealed) || !bytes.Equal(currentForms, it.forms) {
						continue // written or erased meanwhile
					}
					if err := w.deleteIndex(it.rid, it.oldPlain); err != nil {
						return err
					}
					keys, forms, err := w.prepareIndex(it.x)
					if err != nil {
						return err
					}
					sealed, err := db.seal(it.owner, it.typ, it.id, keys)
					if err != nil {
						return fmt.Errorf("seal the key list of %s/%s: %w", it.typ, it.id, err)
					}
					if err := w.insertIndex(it.rid, it.x); err != nil {
						return err
					}
					if err := w.exec(`UPDATE resource SET ix = ?, ixf = ? WHERE rid = ?`, nilIfEmpty(sealed), nilIfEmpty(forms), it.rid); err != nil {
						return err
					}
					changed++
				}
				return nil
			})
			if err != nil {
				return changed, fmt.Errorf("sqlite: reindex: %w", err)
			}
		}
		done += n
		if progress != nil {
			progress(min(done, total), total)
		}
	}
}

// paramKeys maps parameter ids to keys.
func (db *DB) paramKeys(ctx context.Context) (map[int64]string, error) {
	rows, err := db.rpool.QueryContext(ctx, `SELECT pid, key FROM param`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := make(map[int64]string)
	for rows.Next() {
		var pid int64
		var key string
		if err := rows.Scan(&pid, &key); err != nil {
			return nil, err
		}
		m[pid] = key
	}
	return m, rows.Err()
}

// decodeIndex rebuilds the index of a resource from its unsealed key list:
// the rows as they are and a copy to encode afresh. params is extended
// with parameters registered since it was read.
func decodeIndex(ctx context.Context, db *DB, keys []byte, params map[int64]string) (old, x *store.Index, err error) {
	rows, err := decodeRows(keys, nil)
	if err != nil {
		return nil, nil, err
	}
	x = &store.Index{}
	for i := range rows {
		r := &rows[i]
		param, ok := params[r.pid]
		if !ok {
			fresh, err := db.paramKeys(ctx)
			if err != nil {
				return nil, nil, err
			}
			if param, ok = fresh[r.pid]; !ok {
				return nil, nil, fmt.Errorf("%w: unknown parameter %d", errRowKeys, r.pid)
			}
			for k, v := range fresh {
				params[k] = v
			}
		}
		grp := int32(r.grp)
		switch r.table {
		case tString:
			x.Strings = append(x.Strings, store.StringRow{Param: param, Group: grp,
				Norm: string(r.s1), Exact: string(r.s2), IxNorm: string(r.ix1), IxExact: string(r.ix2)})
		case tToken:
			x.Tokens = append(x.Tokens, store.TokenRow{Param: param, Group: grp,
				Code: string(r.s1), System: string(r.s2), IxCode: string(r.ix1), IxSystem: string(r.ix2)})
		case tRef:
			x.References = append(x.References, store.ReferenceRow{Param: param, Group: grp,
				ID: string(r.s1), Type: string(r.s2), URL: string(r.s3)})
		case tDate:
			x.Dates = append(x.Dates, store.DateRow{Param: param, Group: grp, Lo: r.i1, Hi: r.i2})
		case tNumber:
			x.Numbers = append(x.Numbers, store.NumberRow{Param: param, Group: grp, Lo: r.f1, Hi: r.f2})
		case tQuantity:
			x.Quantities = append(x.Quantities, store.QuantityRow{Param: param, Group: grp,
				Lo: r.f1, Hi: r.f2, Code: string(r.s1), System: string(r.s2), Unit: string(r.s3)})
		case tURI:
			x.URIs = append(x.URIs, store.URIRow{Param: param, Group: grp, URI: string(r.s1), IxURI: string(r.ix1)})
		}
	}
	old = &store.Index{
		Strings: append([]store.StringRow(nil), x.Strings...),
		Tokens:  append([]store.TokenRow(nil), x.Tokens...),
		URIs:    append([]store.URIRow(nil), x.URIs...),
	}
	return old, x, nil
}

// sameForms reports whether x has the index forms of old (the rows are the
// same, in the same order).
func sameForms(old, x *store.Index) bool {
	for i, r := range x.Strings {
		if r.IxNorm != old.Strings[i].IxNorm || r.IxExact != old.Strings[i].IxExact {
			return false
		}
	}
	for i, r := range x.Tokens {
		if r.IxCode != old.Tokens[i].IxCode || r.IxSystem != old.Tokens[i].IxSystem {
			return false
		}
	}
	for i, r := range x.URIs {
		if r.IxURI != old.URIs[i].IxURI {
			return false
		}
	}
	return true
}
