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
		var err error
		if resources, versions, err = w.Writer.EraseOwner(owner); err != nil {
			return err
		}
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
