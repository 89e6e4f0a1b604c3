package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hestiahealth/hestia/internal/store"
)

// AddUser stores a new account (version 1), with records appended to the
// audit log in the same transaction; store.ErrConflict if the username or
// id is taken.
func (db *DB) AddUser(ctx context.Context, u store.UserRecord, records ...[]byte) error {
	return db.write(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO auth_user (id, username, version, data) VALUES ($1, $2, 1, $3) ON CONFLICT DO NOTHING`,
			u.ID, u.Username, u.Data)
		if err != nil {
			return fmt.Errorf("postgres: add user: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("postgres: add user: %w", err)
		} else if n == 0 {
			return fmt.Errorf("postgres: add user: %w", store.ErrConflict)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// UpdateUser replaces an account's data if its version is still
// u.Version (and increments it); store.ErrConflict otherwise. records are
// appended to the audit log in the same transaction.
func (db *DB) UpdateUser(ctx context.Context, u store.UserRecord, records ...[]byte) error {
	return db.write(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE auth_user SET data = $1, version = version + 1 WHERE id = $2 AND version = $3`,
			u.Data, u.ID, u.Version)
		if err != nil {
			return fmt.Errorf("postgres: update user: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("postgres: update user: %w", err)
		} else if n == 0 {
			return fmt.Errorf("postgres: update user: %w", store.ErrConflict)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// User returns an account by id, or store.ErrNotFound.
func (db *DB) User(ctx context.Context, id string) (store.UserRecord, error) {
	return db.user(ctx, `SELECT id, username, version, data FROM auth_user WHERE id = $1`, id)
}

// UserByName returns an account by username, or store.ErrNotFound.
func (db *DB) UserByName(ctx context.Context, username string) (store.UserRecord, error) {
	return db.user(ctx, `SELECT id, username, version, data FROM auth_user WHERE username = $1`, username)
}

// user returns the account that q, a query of one argument, finds.
func (db *DB) user(ctx context.Context, q, arg string) (store.UserRecord, error) {
	var u store.UserRecord
	err := db.read.QueryRowContext(ctx, q, arg).Scan(&u.ID, &u.Username, &u.Version, &u.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	} else if err != nil {
		return u, fmt.Errorf("postgres: user: %w", err)
	}
	return u, nil
}

// CountUsers returns how many accounts exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM auth_user`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", err)
	}
	return n, nil
}

// Users returns every account, by username (compared as bytes, whatever
// the database's collation).
func (db *DB) Users(ctx context.Context) ([]store.UserRecord, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, username, version, data FROM auth_user ORDER BY username COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: users: %w", err)
	}
	defer rows.Close()
	var out []store.UserRecord
	for rows.Next() {
		var u store.UserRecord
		if err := rows.Scan(&u.ID, &u.Username, &u.Version, &u.Data); err != nil {
			return nil, fmt.Errorf("postgres: users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: users: %w", err)
	}
	return out, nil
}
