package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Meta returns the value stored under key in the meta table, and whether
// there is one. The table records how stored data is encoded (see
// migrations/0001_init.sql).
func (db *DB) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("postgres: read meta %s: %w", key, err)
	}
	return v, true, nil
}

// SetMeta stores value under key in the meta table.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	return db.write(ctx, func(w *writeTx) error { return w.setMeta(key, value) })
}

// setMeta stores value under key in the transaction.
func (w *writeTx) setMeta(key, value string) error {
	if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("postgres: write meta %s: %w", key, err)
	}
	return nil
}
