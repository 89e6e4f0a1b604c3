package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
)

// The authorization server's records (migrations/0009_oauth.sql). The
// store keeps them without interpreting them.

// AddClient registers a client, with records appended to the audit log in
// the same transaction; store.ErrConflict if the id is taken.
func (db *DB) AddClient(ctx context.Context, c store.ClientRecord, records ...[]byte) error {
	return db.write1(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO oauth_client (id, data, created) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.Data, c.Created.Unix())
		if err != nil {
			return fmt.Errorf("sqlite: add client: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: add client: %w", store.ErrConflict)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// Client returns a registered client, or store.ErrNotFound.
func (db *DB) Client(ctx context.Context, id string) (store.ClientRecord, error) {
	c := store.ClientRecord{ID: id}
	var created int64
	err := db.rpool.QueryRowContext(ctx, `SELECT data, created FROM oauth_client WHERE id = ?`, id).Scan(&c.Data, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	} else if err != nil {
		return c, fmt.Errorf("sqlite: client: %w", err)
	}
	c.Created = time.Unix(created, 0).UTC()
	return c, nil
}

// Clients returns every registered client, by id.
func (db *DB) Clients(ctx context.Context) ([]store.ClientRecord, error) {
	rows, err := db.rpool.QueryContext(ctx, `SELECT id, data, created FROM oauth_client ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: clients: %w", err)
	}
	defer rows.Close()
	var out []store.ClientRecord
	for rows.Next() {
		var c store.ClientRecord
		var created int64
		if err := rows.Scan(&c.ID, &c.Data, &created); err != nil {
			return nil, fmt.Errorf("sqlite: clients: %w", err)
		}
		c.Created = time.Unix(created, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// RemoveClient removes a client and everything issued to it, with records
// appended to the audit log, in one transaction; store.ErrNotFound if
// there is no such client.
func (db *DB) RemoveClient(ctx context.Context, id string, records ...[]byte) error {
	return db.write1(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `DELETE FROM oauth_client WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("sqlite: remove client: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM oauth_grant WHERE client_id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: remove client's grants: %w", err)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// PutGrant stores a grant, replacing one of the same kind and key.
func (db *DB) PutGrant(ctx context.Context, g store.Grant) error {
	return db.write1(ctx, func(w *writeTx) error {
		_, err := w.tx.ExecContext(w.ctx, `INSERT OR REPLACE INTO oauth_grant (kind, key, request_id, client_id, subject, active, expires, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			g.Kind, g.Key, g.RequestID, g.ClientID, g.Subject, g.Active, g.Expires.Unix(), g.Data)
		if err != nil {
			return fmt.Errorf("sqlite: put grant: %w", err)
		}
		return nil
	})
}

// Grant returns a stored grant, or store.ErrNotFound.
func (db *DB) Grant(ctx context.Context, kind, key string) (store.Grant, error) {
	g := store.Grant{Kind: kind, Key: key}
	var expires int64
	err := db.rpool.QueryRowContext(ctx, `SELECT request_id, client_id, subject, active, expires, data FROM oauth_grant WHERE kind = ? AND key = ?`,
		kind, key).Scan(&g.RequestID, &g.ClientID, &g.Subject, &g.Active, &expires, &g.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return g, store.ErrNotFound
	} else if err != nil {
		return g, fmt.Errorf("sqlite: grant: %w", err)
	}
	g.Expires = time.Unix(expires, 0).UTC()
	return g, nil
}

// DeactivateGrant marks a grant used or revoked (it stays, so that its
// reuse is recognised); store.ErrNotFound if there is none.
func (db *DB) DeactivateGrant(ctx context.Context, kind, key string) error {
	return db.write1(ctx, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE oauth_grant SET active = 0 WHERE kind = ? AND key = ? AND active = 1`, kind, key)
		if err != nil {
			return fmt.Errorf("sqlite: deactivate grant: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		// Already inactive (a code or refresh token used twice, perhaps at
		// once: only the first use wins), or not there.
		var one int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT 1 FROM oauth_grant WHERE kind = ? AND key = ?`, kind, key).Scan(&one); err == nil {
			return store.ErrConflict
		}
		return store.ErrNotFound
	})
}

// DeleteGrant removes a grant (no error if there is none).
func (db *DB) DeleteGrant(ctx context.Context, kind, key string) error {
	return db.write1(ctx, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM oauth_grant WHERE kind = ? AND key = ?`, kind, key); err != nil {
			return fmt.Errorf("sqlite: delete grant: %w", err)
		}
		return nil
	})
}

// RevokeGrants deactivates the grants of kind (every kind if "") that an
// authorization issued.
func (db *DB) RevokeGrants(ctx context.Context, kind, requestID string) error {
	return db.write1(ctx, func(w *writeTx) error {
		var err error
		if kind == "" {
			_, err = w.tx.ExecContext(w.ctx, `UPDATE oauth_grant SET active = 0 WHERE request_id = ?`, requestID)
		} else {
			_, err = w.tx.ExecContext(w.ctx, `UPDATE oauth_grant SET active = 0 WHERE request_id = ? AND kind = ?`, requestID, kind)
		}
		if err != nil {
			return fmt.Errorf("sqlite: revoke grants: %w", err)
		}
		return nil
	})
}

// RevokeSubject deactivates every grant issued for a subject.
func (db *DB) RevokeSubject(ctx context.Context, subject string) error {
	return db.write1(ctx, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE oauth_grant SET active = 0 WHERE subject = ?`, subject); err != nil {
			return fmt.Errorf("sqlite: revoke subject: %w", err)
		}
		return nil
	})
}

// PruneGrants deletes grants and assertion ids that expired before t.
func (db *DB) PruneGrants(ctx context.Context, t time.Time) error {
	return db.write1(ctx, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM oauth_grant WHERE expires < ?`, t.Unix()); err != nil {
			return fmt.Errorf("sqlite: prune grants: %w", err)
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM oauth_jti WHERE expires < ?`, t.Unix()); err != nil {
			return fmt.Errorf("sqlite: prune assertion ids: %w", err)
		}
		return nil
	})
}

// JTIKnown reports whether a client-assertion id was seen and has not
// expired.
func (db *DB) JTIKnown(ctx context.Context, jti string, now time.Time) (bool, error) {
	var n int
	err := db.rpool.QueryRowContext(ctx, `SELECT count(*) FROM oauth_jti WHERE jti = ? AND expires >= ?`, jti, now.Unix()).Scan(&n)
	if err != nil {
		return true, fmt.Errorf("sqlite: assertion id: %w", err)
	}
	return n > 0, nil
}

// AddJTI records a client-assertion id until exp; store.ErrConflict if it
// is already recorded (a replay racing the first use).
func (db *DB) AddJTI(ctx context.Context, jti string, exp, now time.Time) error {
	return db.write1(ctx, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM oauth_jti WHERE jti = ? AND expires < ?`, jti, now.Unix()); err != nil {
			return fmt.Errorf("sqlite: add assertion id: %w", err)
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO oauth_jti (jti, expires) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING`, jti, exp.Unix())
		if err != nil {
			return fmt.Errorf("sqlite: add assertion id: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: assertion id: %w", store.ErrConflict)
		}
		return nil
	})
}
