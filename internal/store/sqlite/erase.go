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
		resources, versions, err = w.Writer.EraseOwner(owner, audit, w.AppendAudit)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: erase: %w", err)
	}
	if err := db.Purge(ctx); err != nil {
		return 0, 0, err
	}
	return resources, versions, nil
}
