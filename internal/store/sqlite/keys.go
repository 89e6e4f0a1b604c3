package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store"
)

// The keyset table keeps the keyring's wrapped keys (crypt.KeyStore).
var _ crypt.KeyStore = (*DB)(nil)

// LoadKey implements crypt.KeyStore. Keys are read on a small pool of
// their own: a key is loaded from inside queries (the SQL functions of
// match.go open key lists), and if those took connections of the read
// pool, as many concurrent queries as it has connections, each waiting
// for one more to load a key, would wait for ever.
func (db *DB) LoadKey(ctx context.Context, name string) ([]byte, error) {
	var w []byte
	err := db.keyrd.QueryRowContext(ctx, `SELECT wrapped FROM keyset WHERE name = ?`, name).Scan(&w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crypt.ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: load key: %w", err)
	}
	return w, nil
}

// CreateKey implements crypt.KeyStore.
func (db *DB) CreateKey(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	var stored []byte
	err := db.write1(ctx, func(w *writeTx) error {
		now := time.Now().UnixMicro()
		if err := w.exec(`INSERT OR IGNORE INTO keyset (name, wrapped, created, updated) VALUES (?, ?, ?, ?)`, name, wrapped, now, now); err != nil {
			return err
		}
		return w.tx.QueryRowContext(w.ctx, `SELECT wrapped FROM keyset WHERE name = ?`, name).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: create key: %w", err)
	}
	return stored, nil
}

// ReplaceKey implements crypt.KeyStore.
func (db *DB) ReplaceKey(ctx context.Context, name string, old, wrapped []byte) error {
	return db.write1(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE keyset SET wrapped = ?, updated = ? WHERE name = ? AND wrapped = ?`,
			wrapped, time.Now().UnixMicro(), name, old)
		if err != nil {
			return fmt.Errorf("sqlite: replace key: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var one int
			if w.tx.QueryRowContext(w.ctx, `SELECT 1 FROM keyset WHERE name = ?`, name).Scan(&one) != nil {
				return crypt.ErrNoKey
			}
			return crypt.ErrKeyChanged
		}
		return nil
	})
}

// ListKeys implements crypt.KeyStore.
func (db *DB) ListKeys(ctx context.Context, prefix string, fn func(name string, wrapped []byte, created, updated time.Time) error) error {
	rows, err := db.keyrd.QueryContext(ctx, `SELECT name, wrapped, created, updated FROM keyset WHERE substr(name, 1, length(?)) = ? ORDER BY name`, prefix, prefix)
	if err != nil {
		return fmt.Errorf("sqlite: list keys: %w", err)
	}
	type kv struct {
		name     string
		w        []byte
		cre, upd int64
	}
	var all []kv
	for rows.Next() {
		var x kv
		if err := rows.Scan(&x.name, &x.w, &x.cre, &x.upd); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: list keys: %w", err)
		}
		all = append(all, x)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("sqlite: list keys: %w", err)
	}
	for _, x := range all {
		if err := fn(x.name, x.w, fromMicros(x.cre), fromMicros(x.upd)); err != nil {
			return err
		}
	}
	return nil
}

// Purge folds the WAL into the database and truncates it, so that deleted
// or replaced data no longer stands in the WAL file: freed space in the
// database file is zeroed (secure_delete). The keyring purges after it
// replaces a destroyed data key (crypt.KeyPurger).
func (db *DB) Purge(ctx context.Context) error {
	done := make(chan error, 1)
	// Run on the writer goroutine, between batches.
	err := db.write1(ctx, func(w *writeTx) error {
		w.afterCommit = func() { done <- db.truncateWALNow() }
		return nil
	})
	if err != nil {
		return err
	}
	return <-done
}

// write1 runs fn in a write transaction, as Update does, with the driver's
// own transaction type.
func (db *DB) write1(ctx context.Context, fn func(w *writeTx) error) error {
	return db.Update(ctx, func(tx store.Tx) error { return fn(tx.(*writeTx)) })
}
