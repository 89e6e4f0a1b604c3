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
	err := db.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
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

// InitMeta stores the pairs unless their keys are stored already, in one
// transaction, and returns the pairs as stored afterwards: of several
// processes that initialise the same keys at once, one's values stand,
// whole, and every one gets them.
func (db *DB) InitMeta(ctx context.Context, pairs [][2]string) ([][2]string, error) {
	out := make([][2]string, len(pairs))
	err := db.write(ctx, func(w *writeTx) error {
		for _, kv := range pairs {
			if err := w.exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, kv[0], kv[1]); err != nil {
				return err
			}
		}
		for i, kv := range pairs {
			out[i][0] = kv[0]
			if err := w.tx.QueryRowContext(w.ctx, `SELECT value FROM meta WHERE key = $1`, kv[0]).Scan(&out[i][1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: initialise meta: %w", err)
	}
	return out, nil
}
