package sqlstore

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
//
// read runs the reads; write runs a batch's writes in a transaction.
func (c *Core) Reindex(ctx context.Context, read Querier, write func(func(*Writer) error) error, encode func(*store.Index) error, progress func(done, total int)) (int, error) {
	read = c.wrap(read)
	var total int
	if err := read.QueryRowContext(ctx, `SELECT count(*) FROM resource WHERE ix IS NOT NULL`).Scan(&total); err != nil {
		return 0, fmt.Errorf("reindex: %w", err)
	}
	params, err := paramKeys(ctx, read)
	if err != nil {
		return 0, fmt.Errorf("reindex: %w", err)
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
		rows, err := read.QueryContext(ctx, `SELECT rid, owner, type, id, ix, ixf FROM resource WHERE rid > ? AND ix IS NOT NULL ORDER BY rid LIMIT ?`, after, reindexBatch)
		if err != nil {
			return changed, fmt.Errorf("reindex: %w", err)
		}
		var batch []item
		n := 0
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.rid, &it.owner, &it.typ, &it.id, &it.sealed, &it.forms); err != nil {
				rows.Close()
				return changed, fmt.Errorf("reindex: %w", err)
			}
			after = it.rid
			n++
			if it.oldPlain, err = c.KeyList(it.owner, it.typ, it.id, it.sealed, it.forms); err != nil {
				rows.Close()
				return changed, fmt.Errorf("reindex: open the key list of %s/%s: %w", it.typ, it.id, err)
			}
			old, x, err := DecodeIndex(func() (map[int64]string, error) { return paramKeys(ctx, read) }, it.oldPlain, params)
			if err != nil {
				rows.Close()
				return changed, fmt.Errorf("reindex %s/%s: %w", it.typ, it.id, err)
			}
			if err := encode(x); err != nil {
				rows.Close()
				return changed, fmt.Errorf("reindex %s/%s: %w", it.typ, it.id, err)
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
			return changed, fmt.Errorf("reindex: %w", err)
		}
		if n == 0 {
			return changed, nil
		}
		if len(batch) > 0 {
			done := 0 // counted once the batch commits: write may run it again
			err = write(func(w *Writer) error {
				done = 0
				for _, it := range batch {
					// The row is locked (PostgreSQL) until the batch commits,
					// so no write or erasure slips between this check and the
					// rows it replaces.
					var current, currentForms []byte
					var deleted int
					if err := w.tx.QueryRowContext(w.ctx, c.Rebind(`SELECT ix, ixf, deleted FROM resource WHERE rid = ?`+c.dialect.forUpdate()), it.rid).Scan(&current, &currentForms, &deleted); err != nil {
						return err
					}
					if deleted != 0 || !bytes.Equal(current, it.sealed) || !bytes.Equal(currentForms, it.forms) {
						continue // written or erased meanwhile
					}
					if err := w.DeleteIndex(it.rid, it.oldPlain); err != nil {
						return err
					}
					keys, forms, err := w.PrepareIndex(it.x)
					if err != nil {
						return err
					}
					sealed, err := c.Seal(it.owner, it.typ, it.id, keys)
					if err != nil {
						return fmt.Errorf("seal the key list of %s/%s: %w", it.typ, it.id, err)
					}
					if err := w.InsertIndex(it.rid, it.x); err != nil {
						return err
					}
					if err := w.exec(`UPDATE resource SET ix = ?, ixf = ? WHERE rid = ?`, NilIfEmpty(sealed), NilIfEmpty(forms), it.rid); err != nil {
						return err
					}
					done++
				}
				return nil
			})
			if err == nil {
				changed += done
			}
			if err != nil {
				return changed, fmt.Errorf("reindex: %w", err)
			}
		}
		done += n
		if progress != nil {
			progress(min(done, total), total)
		}
	}
}

// paramKeys maps parameter ids to keys.
func paramKeys(ctx context.Context, q Querier) (map[int64]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT pid, key FROM param`)
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

// ParamKeys maps parameter ids to keys.
func (c *Core) ParamKeys(ctx context.Context, q Querier) (map[int64]string, error) {
	return paramKeys(ctx, c.wrap(q))
}
