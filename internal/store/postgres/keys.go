package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

// The keyset table keeps the keyring's wrapped keys (crypt.KeyStore).
var _ crypt.KeyStore = (*DB)(nil)

// LoadKey implements crypt.KeyStore.
//
// Keys are read on a small pool of their own (as the SQLite driver does):
// the keyring loads a data key it does not hold in its cache from inside
// write transactions (sealing and opening key lists), and on the pool
// those transactions hold, as many of them as it has connections could
// each wait for one more connection for ever.
func (db *DB) LoadKey(ctx context.Context, name string) ([]byte, error) {
	var w []byte
	err := db.keyrd.QueryRowContext(ctx, `SELECT wrapped FROM keyset WHERE name = $1`, name).Scan(&w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crypt.ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: load key: %w", err)
	}
	return w, nil
}

// createKeyAttempts bounds how often CreateKey looks again for a key that
// was deleted between its insert (which found it) and its read.
const createKeyAttempts = 3

// CreateKey implements crypt.KeyStore: it stores wrapped under name unless
// the name is taken, and returns what is stored under it afterwards.
func (db *DB) CreateKey(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	var stored []byte
	err := db.write(ctx, func(w *writeTx) error {
		now := time.Now().UnixMicro()
		for range createKeyAttempts {
			// An insert that conflicts waits for the transaction that holds
			// the name to end; the read, a statement of its own, then sees
			// what it committed.
			err := w.tx.QueryRowContext(w.ctx, `INSERT INTO keyset (name, wrapped, created, updated) VALUES ($1, $2, $3, $4)
				ON CONFLICT (name) DO NOTHING RETURNING wrapped`, name, wrapped, now, now).Scan(&stored)
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			err = w.tx.QueryRowContext(w.ctx, `SELECT wrapped FROM keyset WHERE name = $1`, name).Scan(&stored)
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			// Deleted meanwhile by another transaction: insert again.
		}
		return errors.New("the key is being created and deleted concurrently")
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: create key: %w", err)
	}
	return stored, nil
}

// ReplaceKey implements crypt.KeyStore: crypt.ErrKeyChanged if what is
// stored under name is not old, crypt.ErrNoKey if nothing is.
func (db *DB) ReplaceKey(ctx context.Context, name string, old, wrapped []byte) error {
	return db.write(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE keyset SET wrapped = $1, updated = $2 WHERE name = $3 AND wrapped = $4`,
			wrapped, time.Now().UnixMicro(), name, old)
		if err != nil {
			return fmt.Errorf("postgres: replace key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("postgres: replace key: %w", err)
		} else if n == 1 {
			return nil
		}
		var one int
		err = w.tx.QueryRowContext(w.ctx, `SELECT 1 FROM keyset WHERE name = $1`, name).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return crypt.ErrNoKey
		case err != nil:
			return fmt.Errorf("postgres: replace key: %w", err)
		}
		return crypt.ErrKeyChanged
	})
}

// ListKeys implements crypt.KeyStore. Names are compared and ordered as
// bytes, whatever the database's collation. fn runs after the rows are
// read, so it may use the store.
func (db *DB) ListKeys(ctx context.Context, prefix string, fn func(name string, wrapped []byte, created, updated time.Time) error) error {
	rows, err := db.keyrd.QueryContext(ctx, `SELECT name, wrapped, created, updated FROM keyset
		WHERE starts_with(name, $1) ORDER BY name COLLATE "C"`, prefix)
	if err != nil {
		return fmt.Errorf("postgres: list keys: %w", err)
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
			return fmt.Errorf("postgres: list keys: %w", err)
		}
		all = append(all, x)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("postgres: list keys: %w", err)
	}
	for _, x := range all {
		if err := fn(x.name, x.w, sqlstore.FromMicros(x.cre), sqlstore.FromMicros(x.upd)); err != nil {
			return err
		}
	}
	return nil
}

// Purge does nothing on PostgreSQL and returns nil: unlike SQLite's
// secure_delete, PostgreSQL cannot zero the space deleted rows leave.
// What protects deleted data at rest is crypto-shredding: the data is
// sealed with a key the keyring destroyed (replaced by its erased mark),
// and the wrapped key only opens with the key-encryption key, which the
// database never holds. The space of deleted rows is reclaimed by VACUUM (autovacuum); until it is
// reused, the deleted bytes, the destroyed wrapped key among them, remain
// in the table's files, and in the write-ahead log and backups for as long
// as those are kept.
func (db *DB) Purge(ctx context.Context) error {
	return nil
}
