package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
)

// SaveCheckpoint stores a signed checkpoint of the audit log of size size
// (one per size: a second of the same size is ignored).
func (db *DB) SaveCheckpoint(ctx context.Context, size uint64, note []byte) error {
	if size > math.MaxInt64 {
		return errors.New("postgres: save checkpoint: size out of range")
	}
	return db.write(ctx, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO audit_checkpoint (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING`, int64(size), note); err != nil {
			return fmt.Errorf("postgres: save checkpoint: %w", err)
		}
		return nil
	})
}

// Checkpoints returns the stored signed checkpoints, by size.
func (db *DB) Checkpoints(ctx context.Context) ([][]byte, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT note FROM audit_checkpoint ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var n []byte
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("postgres: checkpoints: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", err)
	}
	return out, nil
}

// LatestCheckpoint returns the stored checkpoint of the largest size, and
// false if there is none.
func (db *DB) LatestCheckpoint(ctx context.Context) ([]byte, bool, error) {
	var n []byte
	err := db.read.QueryRowContext(ctx, `SELECT note FROM audit_checkpoint ORDER BY size DESC LIMIT 1`).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("postgres: latest checkpoint: %w", err)
	}
	return n, true, nil
}
