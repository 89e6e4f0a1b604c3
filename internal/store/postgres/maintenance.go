package postgres

import (
	"context"
	"fmt"

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

// Sealed is a stored ciphertext (see sqlstore.Sealed).
type Sealed = sqlstore.Sealed

// Reindex gives the index rows of every resource new index forms, while
// requests go on (see sqlstore's Core.Reindex).
func (db *DB) Reindex(ctx context.Context, encode func(*store.Index) error, progress func(done, total int)) (int, error) {
	n, err := db.core.Reindex(ctx, db.read, db.writeBatch(ctx), encode, progress)
	if err != nil {
		return n, fmt.Errorf("postgres: %w", err)
	}
	return n, nil
}

// Reseal passes every stored body and key list to fn and stores what fn
// returns, in batches, while requests go on (see sqlstore's Core.Reseal).
func (db *DB) Reseal(ctx context.Context, fn func(*Sealed) ([]byte, error), progress func(done, total int)) (int, error) {
	n, err := db.core.Reseal(ctx, db.read, db.writeBatch(ctx), fn, progress)
	if err != nil {
		return n, fmt.Errorf("postgres: %w", err)
	}
	return n, nil
}

// writeBatch runs fn with the shared Writer of a write transaction.
func (db *DB) writeBatch(ctx context.Context) func(func(*sqlstore.Writer) error) error {
	return func(fn func(*sqlstore.Writer) error) error {
		return db.write(ctx, func(w *writeTx) error { return fn(w.Writer) })
	}
}
