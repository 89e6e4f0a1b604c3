package sqlstore

import (
	"context"
	"fmt"
)

// Sealed is a stored ciphertext: a version's body, or a resource's index
// key list (Keys set, Version 0).
type Sealed struct {
	Keys    bool
	Owner   string
	Type    string
	ID      string
	Version int64
	Data    []byte
}

const resealBatch = 500

// Reseal passes every stored body and key list to fn and stores what fn
// returns, in batches, while requests go on. A row that changed meanwhile
// (a newer write sealed it afresh, an erasure removed it) is left as it
// is. It returns the number of ciphertexts sealed again.
//
// read runs the reads; write runs a batch's writes in a transaction.
func (c *Core) Reseal(ctx context.Context, read Querier, write func(func(*Writer) error) error, fn func(*Sealed) ([]byte, error), progress func(done, total int)) (int, error) {
	read = c.wrap(read)
	var total, versions int
	if err := read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM version WHERE body IS NOT NULL) + (SELECT count(*) FROM resource WHERE ix IS NOT NULL), (SELECT count(*) FROM version WHERE body IS NOT NULL)`).Scan(&total, &versions); err != nil {
		return 0, fmt.Errorf("reseal: %w", err)
	}
	done, changed := 0, 0
	type upd struct {
		key      int64
		old, new []byte
	}
	pass := func(query, update string, keys bool) error {
		var after int64
		for {
			rows, err := read.QueryContext(ctx, query, after, resealBatch)
			if err != nil {
				return err
			}
			var batch []upd
			for rows.Next() {
				s := &Sealed{Keys: keys}
				var key int64
				if err := rows.Scan(&key, &s.Owner, &s.Type, &s.ID, &s.Version, &s.Data); err != nil {
					rows.Close()
					return err
				}
				after = key
				n, err := fn(s)
				if err != nil {
					rows.Close()
					return fmt.Errorf("%s/%s: %w", s.Type, s.ID, err)
				}
				batch = append(batch, upd{key, s.Data, n})
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				return nil
			}
			n := 0 // counted once the batch commits: write may run it again
			err = write(func(w *Writer) error {
				n = 0
				for _, u := range batch {
					res, err := w.tx.ExecContext(w.ctx, c.Rebind(update), u.new, u.key, u.old)
					if err != nil {
						return err
					}
					if k, _ := res.RowsAffected(); k == 1 {
						n++
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			changed += n
			done += len(batch)
			if progress != nil {
				progress(min(done, total), total)
			}
		}
	}
	if err := pass(`SELECT v.vid, v.owner, r.type, r.id, v.version, v.body FROM version v JOIN resource r ON r.rid = v.rid
WHERE v.vid > ? AND v.body IS NOT NULL ORDER BY v.vid LIMIT ?`,
		`UPDATE version SET body = ? WHERE vid = ? AND body = ?`, false); err != nil {
		return changed, fmt.Errorf("reseal bodies: %w", err)
	}
	if err := pass(`SELECT rid, owner, type, id, 0, ix FROM resource WHERE rid > ? AND ix IS NOT NULL ORDER BY rid LIMIT ?`,
		`UPDATE resource SET ix = ? WHERE rid = ? AND ix = ?`, true); err != nil {
		return changed, fmt.Errorf("reseal key lists: %w", err)
	}
	return changed, nil
}
