package sqlite

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
	return db.write1(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO auth_user (id, username, version, data) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING`,
			u.ID, u.Username, u.Data)
		if err != nil {
			return fmt.Errorf("sqlite: add user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: add user: %w", store.ErrConflict)
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
	return db.write1(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE auth_user SET data = ?, version = version + 1 WHERE id = ? AND version = ?`, u.Data, u.ID, u.Version)
		if err != nil {
			return fmt.Errorf("sqlite: update user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: update user: %w", store.ErrConflict)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// User returns an account by id, or store.ErrNotFound.
func (db *DB) User(ctx context.Context, id string) (store.UserRecord, error) {
	return db.user(ctx, `SELECT id, username, version, data FROM auth_user WHERE id = ?`, id)
}

// UserByName returns an account by username, or store.ErrNotFound.
func (db *DB) UserByName(ctx context.Context, username string) (store.UserRecord, error) {
	return db.user(ctx, `SELECT id, username, version, data FROM auth_user WHERE username = ?`, username)
}

func (db *DB) user(ctx context.Context, q, arg string) (store.UserRecord, error) {
	var u store.UserRecord
	err := db.rpool.QueryRowContext(ctx, q, arg).Scan(&u.ID, &u.Username, &u.Version, &u.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	} else if err != nil {
		return u, fmt.Errorf("sqlite: user: %w", err)
	}
	return u, nil
}

// CountUsers returns how many accounts exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.rpool.QueryRowContext(ctx, `SELECT count(*) FROM auth_user`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", err)
	}
	return n, nil
}

// Users returns every account, by username.
func (db *DB) Users(ctx context.Context) ([]store.UserRecord, error) {
	rows, err := db.rpool.QueryContext(ctx, `SELECT id, username, version, data FROM auth_user ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: users: %w", err)
	}
	defer rows.Close()
	var out []store.UserRecord
	for rows.Next() {
		var u store.UserRecord
		if err := rows.Scan(&u.ID, &u.Username, &u.Version, &u.Data); err != nil {
			return nil, fmt.Errorf("sqlite: users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
