package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SaveCheckpoint stores a signed checkpoint of the audit log of size size
// (one per size: a second of the same size is ignored).
func (db *DB) SaveCheckpoint(ctx context.Context, size uint64, note []byte) error {
	return db.write1(ctx, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO audit_checkpoint (size, note) VALUES (?, ?) ON CONFLICT (size) DO NOTHING`, size, note); err != nil {
			return fmt.Errorf("sqlite: save checkpoint: %w", err)
		}
		return nil
	})
}

// Checkpoints returns the stored signed checkpoints, by size.
func (db *DB) Checkpoints(ctx context.Context) ([][]byte, error) {
	rows, err := db.rpool.QueryContext(ctx, `SELECT note FROM audit_checkpoint ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var n []byte
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// LatestCheckpoint returns the stored checkpoint of the largest size, and
// false if there is none.
func (db *DB) LatestCheckpoint(ctx context.Context) ([]byte, bool, error) {
	var n []byte
	err := db.rpool.QueryRowContext(ctx, `SELECT note FROM audit_checkpoint ORDER BY size DESC LIMIT 1`).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	return n, true, nil
}
