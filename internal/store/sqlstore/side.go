package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
)

// The tables beside the resources: accounts (auth_user), the authorization
// server's clients, grants and assertion ids (oauth_*), the audit log's
// checkpoints and the meta settings. Both drivers keep them with this
// code; a driver gives its connections for reads and its write
// transactions.

// SideTx is a driver's write transaction as the side tables use it:
// statements with ? placeholders, and audit records appended with it.
type SideTx interface {
	Exec(query string, args ...any) (sql.Result, error)
	QueryRow(query string, args ...any) *sql.Row
	AppendAudit(record []byte)
}

// Side keeps the side tables of one database. A driver embeds it.
type Side struct {
	c      *Core
	reads  Querier
	write  func(ctx context.Context, fn func(SideTx) error) error
	prefix string // of errors: the driver's name
}

// NewSide returns the side tables on reads (connections for reads outside
// transactions) and write (which runs fn in a write transaction, perhaps
// more than once: fn has no effect outside it).
func (c *Core) NewSide(reads Querier, write func(ctx context.Context, fn func(SideTx) error) error) Side {
	return Side{c: c, reads: c.wrap(reads), write: write, prefix: c.dialect.String()}
}

func (s *Side) read() Querier { return s.reads }

// exec runs a statement whose result does not matter beyond its error.
func exec(w SideTx, query string, args ...any) error {
	_, err := w.Exec(query, args...)
	return err
}

// bytewise is col in an ORDER BY that compares bytes, as SQLite does
// (PostgreSQL would otherwise follow the database's language collation).
func (d Dialect) bytewise(col string) string {
	if d == Postgres {
		return col + ` COLLATE "C"`
	}
	return col
}

// AddUser stores a new account (version 1), with records appended to the
// audit log in the same transaction; store.ErrConflict if the username or
// id is taken.
func (s *Side) AddUser(ctx context.Context, u store.UserRecord, records ...[]byte) error {
	return s.write(ctx, func(w SideTx) error {
		res, err := w.Exec(`INSERT INTO auth_user (id, username, version, data) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING`,
			u.ID, u.Username, u.Data)
		if err != nil {
			return fmt.Errorf("%s: add user: %w", s.prefix, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: add user: %w", s.prefix, err)
		} else if n == 0 {
			return fmt.Errorf("%s: add user: %w", s.prefix, store.ErrConflict)
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
func (s *Side) UpdateUser(ctx context.Context, u store.UserRecord, records ...[]byte) error {
	return s.write(ctx, func(w SideTx) error {
		res, err := w.Exec(`UPDATE auth_user SET data = ?, version = version + 1 WHERE id = ? AND version = ?`,
			u.Data, u.ID, u.Version)
		if err != nil {
			return fmt.Errorf("%s: update user: %w", s.prefix, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: update user: %w", s.prefix, err)
		} else if n == 0 {
			return fmt.Errorf("%s: update user: %w", s.prefix, store.ErrConflict)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// User returns an account by id, or store.ErrNotFound.
func (s *Side) User(ctx context.Context, id string) (store.UserRecord, error) {
	return s.user(ctx, `SELECT id, username, version, data FROM auth_user WHERE id = ?`, id)
}

// UserByName returns an account by username, or store.ErrNotFound.
func (s *Side) UserByName(ctx context.Context, username string) (store.UserRecord, error) {
	return s.user(ctx, `SELECT id, username, version, data FROM auth_user WHERE username = ?`, username)
}

// user returns the account that q, a query of one argument, finds.
func (s *Side) user(ctx context.Context, q, arg string) (store.UserRecord, error) {
	var u store.UserRecord
	err := s.read().QueryRowContext(ctx, q, arg).Scan(&u.ID, &u.Username, &u.Version, &u.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	} else if err != nil {
		return u, fmt.Errorf("%s: user: %w", s.prefix, err)
	}
	return u, nil
}

// CountUsers returns how many accounts exist.
func (s *Side) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.read().QueryRowContext(ctx, `SELECT count(*) FROM auth_user`).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: count users: %w", s.prefix, err)
	}
	return n, nil
}

// Users returns every account, by username (compared as bytes, whatever
// the database's collation).
func (s *Side) Users(ctx context.Context) ([]store.UserRecord, error) {
	rows, err := s.read().QueryContext(ctx, `SELECT id, username, version, data FROM auth_user ORDER BY `+s.c.dialect.bytewise("username"))
	if err != nil {
		return nil, fmt.Errorf("%s: users: %w", s.prefix, err)
	}
	defer rows.Close()
	var out []store.UserRecord
	for rows.Next() {
		var u store.UserRecord
		if err := rows.Scan(&u.ID, &u.Username, &u.Version, &u.Data); err != nil {
			return nil, fmt.Errorf("%s: users: %w", s.prefix, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: users: %w", s.prefix, err)
	}
	return out, nil
}

// The authorization server's records (the oauth_* tables). The
// store keeps them without interpreting them.

// AddClient registers a client, with records appended to the audit log in
// the same transaction; store.ErrConflict if the id is taken.
func (s *Side) AddClient(ctx context.Context, c store.ClientRecord, records ...[]byte) error {
	return s.write(ctx, func(w SideTx) error {
		res, err := w.Exec(`INSERT INTO oauth_client (id, data, created) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.Data, c.Created.Unix())
		if err != nil {
			return fmt.Errorf("%s: add client: %w", s.prefix, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: add client: %w", s.prefix, err)
		} else if n == 0 {
			return fmt.Errorf("%s: add client: %w", s.prefix, store.ErrConflict)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// Client returns a registered client, or store.ErrNotFound.
func (s *Side) Client(ctx context.Context, id string) (store.ClientRecord, error) {
	c := store.ClientRecord{ID: id}
	var created int64
	err := s.read().QueryRowContext(ctx, `SELECT data, created FROM oauth_client WHERE id = ?`, id).Scan(&c.Data, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	} else if err != nil {
		return c, fmt.Errorf("%s: client: %w", s.prefix, err)
	}
	c.Created = time.Unix(created, 0).UTC()
	return c, nil
}

// Clients returns every registered client, by id (compared as bytes,
// whatever the database's collation).
func (s *Side) Clients(ctx context.Context) ([]store.ClientRecord, error) {
	rows, err := s.read().QueryContext(ctx, `SELECT id, data, created FROM oauth_client ORDER BY `+s.c.dialect.bytewise("id"))
	if err != nil {
		return nil, fmt.Errorf("%s: clients: %w", s.prefix, err)
	}
	defer rows.Close()
	var out []store.ClientRecord
	for rows.Next() {
		var c store.ClientRecord
		var created int64
		if err := rows.Scan(&c.ID, &c.Data, &created); err != nil {
			return nil, fmt.Errorf("%s: clients: %w", s.prefix, err)
		}
		c.Created = time.Unix(created, 0).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: clients: %w", s.prefix, err)
	}
	return out, nil
}

// RemoveClient removes a client and everything issued to it, with records
// appended to the audit log, in one transaction; store.ErrNotFound if
// there is no such client.
func (s *Side) RemoveClient(ctx context.Context, id string, records ...[]byte) error {
	return s.write(ctx, func(w SideTx) error {
		res, err := w.Exec(`DELETE FROM oauth_client WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("%s: remove client: %w", s.prefix, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: remove client: %w", s.prefix, err)
		} else if n == 0 {
			return store.ErrNotFound
		}
		if _, err := w.Exec(`DELETE FROM oauth_grant WHERE client_id = ?`, id); err != nil {
			return fmt.Errorf("%s: remove client's grants: %w", s.prefix, err)
		}
		for _, r := range records {
			w.AppendAudit(r)
		}
		return nil
	})
}

// PutGrant stores a grant, replacing one of the same kind and key.
func (s *Side) PutGrant(ctx context.Context, g store.Grant) error {
	active := 0
	if g.Active {
		active = 1
	}
	return s.write(ctx, func(w SideTx) error {
		_, err := w.Exec(`INSERT INTO oauth_grant (kind, key, request_id, client_id, subject, active, expires, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, key) DO UPDATE SET request_id = excluded.request_id, client_id = excluded.client_id,
				subject = excluded.subject, active = excluded.active, expires = excluded.expires, data = excluded.data`,
			g.Kind, g.Key, g.RequestID, g.ClientID, g.Subject, active, g.Expires.Unix(), g.Data)
		if err != nil {
			return fmt.Errorf("%s: put grant: %w", s.prefix, err)
		}
		return nil
	})
}

// Grant returns a stored grant, or store.ErrNotFound.
func (s *Side) Grant(ctx context.Context, kind, key string) (store.Grant, error) {
	g := store.Grant{Kind: kind, Key: key}
	var active int
	var expires int64
	err := s.read().QueryRowContext(ctx, `SELECT request_id, client_id, subject, active, expires, data FROM oauth_grant WHERE kind = ? AND key = ?`,
		kind, key).Scan(&g.RequestID, &g.ClientID, &g.Subject, &active, &expires, &g.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return g, store.ErrNotFound
	} else if err != nil {
		return g, fmt.Errorf("%s: grant: %w", s.prefix, err)
	}
	g.Active = active != 0
	g.Expires = time.Unix(expires, 0).UTC()
	return g, nil
}

// DeactivateGrant marks a grant used or revoked (it stays, so that its
// reuse is recognised); store.ErrNotFound if there is none.
func (s *Side) DeactivateGrant(ctx context.Context, kind, key string) error {
	return s.write(ctx, func(w SideTx) error {
		res, err := w.Exec(`UPDATE oauth_grant SET active = 0 WHERE kind = ? AND key = ? AND active = 1`, kind, key)
		if err != nil {
			return fmt.Errorf("%s: deactivate grant: %w", s.prefix, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: deactivate grant: %w", s.prefix, err)
		} else if n == 1 {
			return nil
		}
		// Already inactive (a code or refresh token used twice, perhaps at
		// once on two nodes: only the first use wins), or not there.
		var one int
		if err := w.QueryRow(`SELECT 1 FROM oauth_grant WHERE kind = ? AND key = ?`, kind, key).Scan(&one); err == nil {
			return store.ErrConflict
		}
		return store.ErrNotFound
	})
}

// DeleteGrant removes a grant (no error if there is none).
func (s *Side) DeleteGrant(ctx context.Context, kind, key string) error {
	return s.write(ctx, func(w SideTx) error {
		if _, err := w.Exec(`DELETE FROM oauth_grant WHERE kind = ? AND key = ?`, kind, key); err != nil {
			return fmt.Errorf("%s: delete grant: %w", s.prefix, err)
		}
		return nil
	})
}

// RevokeGrants deactivates the grants of kind (every kind if "") that an
// authorization issued.
func (s *Side) RevokeGrants(ctx context.Context, kind, requestID string) error {
	return s.write(ctx, func(w SideTx) error {
		var err error
		if kind == "" {
			_, err = w.Exec(`UPDATE oauth_grant SET active = 0 WHERE request_id = ?`, requestID)
		} else {
			_, err = w.Exec(`UPDATE oauth_grant SET active = 0 WHERE request_id = ? AND kind = ?`, requestID, kind)
		}
		if err != nil {
			return fmt.Errorf("%s: revoke grants: %w", s.prefix, err)
		}
		return nil
	})
}

// RevokeSubject deactivates every grant issued for a subject.
func (s *Side) RevokeSubject(ctx context.Context, subject string) error {
	return s.write(ctx, func(w SideTx) error {
		if _, err := w.Exec(`UPDATE oauth_grant SET active = 0 WHERE subject = ?`, subject); err != nil {
			return fmt.Errorf("%s: revoke subject: %w", s.prefix, err)
		}
		return nil
	})
}

// PruneGrants deletes grants and assertion ids that expired before t.
func (s *Side) PruneGrants(ctx context.Context, t time.Time) error {
	return s.write(ctx, func(w SideTx) error {
		if _, err := w.Exec(`DELETE FROM oauth_grant WHERE expires < ?`, t.Unix()); err != nil {
			return fmt.Errorf("%s: prune grants: %w", s.prefix, err)
		}
		if _, err := w.Exec(`DELETE FROM oauth_jti WHERE expires < ?`, t.Unix()); err != nil {
			return fmt.Errorf("%s: prune assertion ids: %w", s.prefix, err)
		}
		return nil
	})
}

// JTIKnown reports whether a client-assertion id was seen and has not
// expired. On error it reports true, so that a caller that ignores the
// error still refuses the assertion.
func (s *Side) JTIKnown(ctx context.Context, jti string, now time.Time) (bool, error) {
	var n int
	err := s.read().QueryRowContext(ctx, `SELECT count(*) FROM oauth_jti WHERE jti = ? AND expires >= ?`, jti, now.Unix()).Scan(&n)
	if err != nil {
		return true, fmt.Errorf("%s: assertion id: %w", s.prefix, err)
	}
	return n > 0, nil
}

// AddJTI records a client-assertion id until exp; store.ErrConflict if it
// is already recorded and not expired (a replay racing the first use).
func (s *Side) AddJTI(ctx context.Context, jti string, exp, now time.Time) error {
	return s.write(ctx, func(w SideTx) error {
		if _, err := w.Exec(`DELETE FROM oauth_jti WHERE jti = ? AND expires < ?`, jti, now.Unix()); err != nil {
			return fmt.Errorf("%s: add assertion id: %w", s.prefix, err)
		}
		// A concurrent insert of the same id makes this one wait for its
		// transaction, then do nothing if it committed.
		res, err := w.Exec(`INSERT INTO oauth_jti (jti, expires) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING`, jti, exp.Unix())
		if err != nil {
			return fmt.Errorf("%s: add assertion id: %w", s.prefix, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("%s: add assertion id: %w", s.prefix, err)
		} else if n == 0 {
			return fmt.Errorf("%s: assertion id: %w", s.prefix, store.ErrConflict)
		}
		return nil
	})
}

// SaveCheckpoint stores a signed checkpoint of the audit log of size size
// (one per size: a second of the same size is ignored).
func (s *Side) SaveCheckpoint(ctx context.Context, size uint64, note []byte) error {
	if size > math.MaxInt64 {
		return fmt.Errorf("%s: save checkpoint: size out of range", s.prefix)
	}
	return s.write(ctx, func(w SideTx) error {
		if _, err := w.Exec(`INSERT INTO audit_checkpoint (size, note) VALUES (?, ?) ON CONFLICT (size) DO NOTHING`, int64(size), note); err != nil {
			return fmt.Errorf("%s: save checkpoint: %w", s.prefix, err)
		}
		return nil
	})
}

// Checkpoints returns the stored signed checkpoints, by size.
func (s *Side) Checkpoints(ctx context.Context) ([][]byte, error) {
	rows, err := s.read().QueryContext(ctx, `SELECT note FROM audit_checkpoint ORDER BY size`)
	if err != nil {
		return nil, fmt.Errorf("%s: checkpoints: %w", s.prefix, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var n []byte
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: checkpoints: %w", s.prefix, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: checkpoints: %w", s.prefix, err)
	}
	return out, nil
}

// LatestCheckpoint returns the stored checkpoint of the largest size, and
// false if there is none.
func (s *Side) LatestCheckpoint(ctx context.Context) ([]byte, bool, error) {
	var n []byte
	err := s.read().QueryRowContext(ctx, `SELECT note FROM audit_checkpoint ORDER BY size DESC LIMIT 1`).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%s: latest checkpoint: %w", s.prefix, err)
	}
	return n, true, nil
}

// Meta returns the value stored under key in the meta table, and whether
// there is one. The table records how stored data is encoded (see
// migrations/0001_init.sql).
func (s *Side) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.read().QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("%s: read meta %s: %w", s.prefix, key, err)
	}
	return v, true, nil
}

// SetMeta stores value under key in the meta table.
func (s *Side) SetMeta(ctx context.Context, key, value string) error {
	return s.write(ctx, func(w SideTx) error { return s.setMeta(w, key, value) })
}

// SetMetaIn stores value under key in the write transaction w.
func (s *Side) SetMetaIn(w SideTx, key, value string) error { return s.setMeta(w, key, value) }

// setMeta stores value under key in the transaction.
func (s *Side) setMeta(w SideTx, key, value string) error {
	if _, err := w.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("%s: write meta %s: %w", s.prefix, key, err)
	}
	return nil
}

// InitMeta stores the pairs unless their keys are stored already, in one
// transaction, and returns the pairs as stored afterwards: of several
// processes that initialise the same keys at once, one's values stand,
// whole, and every one gets them.
func (s *Side) InitMeta(ctx context.Context, pairs [][2]string) ([][2]string, error) {
	out := make([][2]string, len(pairs))
	err := s.write(ctx, func(w SideTx) error {
		for _, kv := range pairs {
			if err := exec(w, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, kv[0], kv[1]); err != nil {
				return err
			}
		}
		for i, kv := range pairs {
			out[i][0] = kv[0]
			if err := w.QueryRow(`SELECT value FROM meta WHERE key = ?`, kv[0]).Scan(&out[i][1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: initialise meta: %w", s.prefix, err)
	}
	return out, nil
}
