// Package postgres is Hestia's storage driver for PostgreSQL, the engine
// of deployments that run several stateless Hestia nodes on one database.
// It shares its SQL with the SQLite driver (internal/store/sqlstore) and
// talks to the server through github.com/jackc/pgx/v5.
//
// Invariants:
//   - Every Update runs in its own transaction (READ COMMITTED) and returns
//     after COMMIT, which PostgreSQL makes durable (synchronous_commit on,
//     the server's default), or after it failed; the transaction runs
//     detached from the caller's cancellation, so a returned error never
//     hides a commit.
//   - Of two transactions writing the same resource, one wins: an update is
//     a compare and swap on the stored version, a create an insert that
//     conflicts on (type, id). A transaction PostgreSQL aborts for a
//     deadlock or a serialization failure is run again (store.Store allows
//     it), a bounded number of times.
//   - Searches inside a write transaction (conditional create, update,
//     delete) hold a transaction-scoped advisory lock on the resource type,
//     so two conditional writes on one type, on any node, run one after the
//     other and the second sees the first.
//   - Migrations run under a session advisory lock: nodes that start
//     together migrate once.
//   - All SQL is parameterized; values never become SQL text.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures the driver.
type Config struct {
	// URL is the connection string (postgres://user@host:port/db?...).
	URL string
	// MaxConns caps the connection pool (default 16).
	MaxConns int
	// Cipher seals the key lists; nil leaves them unsealed.
	Cipher sqlstore.KeyCipher
}

// DB is an open database. It implements store.Store.
type DB struct {
	cfg   Config
	pool  *sql.DB
	keyrd *sql.DB // reads the keyset table: see LoadKey
	core  *sqlstore.Core
	audit auditLog
}

var _ store.Store = (*DB)(nil)

// Advisory lock keys (pg_advisory_lock takes a bigint; these spell
// "hestia" and a purpose, so they do not collide with other software).
const (
	lockMigrate int64 = 0x6865737469610001
)

// Open connects to the database at cfg.URL and migrates it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: no database URL")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	pool, err := sql.Open("pgx", cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", redact(err))
	}
	pool.SetMaxOpenConns(cfg.MaxConns)
	pool.SetMaxIdleConns(cfg.MaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", redact(err))
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	keyrd, err := sql.Open("pgx", cfg.URL)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", redact(err))
	}
	keyrd.SetMaxOpenConns(2)
	db := &DB{cfg: cfg, pool: pool, keyrd: keyrd, core: sqlstore.NewCore(sqlstore.Postgres)}
	db.core.SetCipher(cfg.Cipher)
	if err := db.core.LoadParams(ctx, pool); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := db.startAudit(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// redact drops what an error may quote of the connection string (the
// password) by keeping only PostgreSQL's own message when there is one.
func redact(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return errors.New("cannot connect to the database server")
	}
	var pe2 *pgconn.ParseConfigError
	if errors.As(err, &pe2) {
		return errors.New("invalid database URL")
	}
	return err
}

// migrate applies the migrations not yet applied, one transaction each,
// holding a session advisory lock so that nodes starting together take
// turns (the second finds the work done).
func migrate(ctx context.Context, pool *sql.DB) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", redact(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockMigrate)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	if have > len(names) {
		return fmt.Errorf("postgres: database schema version %d is newer than this binary (%d)", have, len(names))
	}
	for i := have; i < len(names); i++ {
		text, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(text)); err != nil {
			tx.Rollback()
			return fmt.Errorf("postgres: migration %s: %w", names[i], redact(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("postgres: migration %s: %w", names[i], err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", names[i], err)
		}
	}
	return nil
}

// SchemaVersion returns the number of migrations applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.pool.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}

// SetCipher sets the KeyCipher that seals key lists. It must be called
// before the first write or search.
func (db *DB) SetCipher(c sqlstore.KeyCipher) {
	db.cfg.Cipher = c
	db.core.SetCipher(c)
}

// Close closes the connection pool.
func (db *DB) Close() error {
	db.stopAudit()
	db.core.Close()
	db.keyrd.Close()
	return db.pool.Close()
}

// Read implements store.Store.
func (db *DB) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	return db.core.Read(ctx, db.pool, typ, id)
}

// ReadVersion implements store.Store.
func (db *DB) ReadVersion(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	return db.core.ReadVersion(ctx, db.pool, typ, id, version)
}

// ReadMany implements store.Store.
func (db *DB) ReadMany(ctx context.Context, refs []store.Ref) ([]*store.Resource, error) {
	return db.core.ReadMany(ctx, db.pool, refs)
}

// History implements store.Store.
func (db *DB) History(ctx context.Context, q *store.HistoryQuery) (*store.HistoryPage, error) {
	return db.core.History(ctx, db.pool, q)
}

// Search implements store.Store.
func (db *DB) Search(ctx context.Context, q *store.Query) (*store.SearchResult, error) {
	return db.core.Search(ctx, db.pool, q)
}

// maxAttempts bounds how often a transaction PostgreSQL aborted is run.
const maxAttempts = 8

// Update implements store.Store.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(w *writeTx) error { return fn(w) })
}

// write runs fn in a transaction of its own, again when PostgreSQL aborts
// it for a deadlock or a serialization failure.
func (db *DB) write(ctx context.Context, fn func(w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Once begun, the transaction runs to its end whatever the caller does:
	// a cancelled COMMIT would leave the caller unsure whether it happened.
	tctx := context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		err := db.write1(tctx, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		time.Sleep(time.Duration(attempt*attempt)*time.Millisecond + rand.N(2*time.Millisecond))
	}
}

func (db *DB) write1(ctx context.Context, fn func(w *writeTx) error) error {
	tx, err := db.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", redact(err))
	}
	w := &writeTx{Writer: db.core.NewWriter(ctx, tx), db: db, tx: tx, ctx: ctx}
	err = callSafely(fn, w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = w.writeAudit()
	}
	if err != nil {
		tx.Rollback()
		w.Abandon()
		return err
	}
	if err := tx.Commit(); err != nil {
		w.Abandon()
		return fmt.Errorf("postgres: commit: %w", err)
	}
	w.Committed()
	return nil
}

// retryable reports an error PostgreSQL resolves by running the
// transaction again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization_failure, deadlock_detected
	}
	return false
}

// callSafely runs fn and turns a panic into an error.
func callSafely(fn func(*writeTx) error, w *writeTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("postgres: write function panicked: %v", r)
		}
	}()
	return fn(w)
}

// writeTx implements store.Tx on an open transaction.
type writeTx struct {
	*sqlstore.Writer
	db        *DB
	tx        *sql.Tx
	ctx       context.Context
	audit     [][]byte // audit records to append with the transaction
	typeLocks []string
}

var _ store.Tx = (*writeTx)(nil)

// Search implements store.Tx. It first takes the transaction's advisory
// lock on the type (see the package invariants).
func (w *writeTx) Search(q *store.Query) (*store.SearchResult, error) {
	if !slices.Contains(w.typeLocks, q.Type) {
		if _, err := w.tx.ExecContext(w.ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "hestia:search:"+q.Type); err != nil {
			return nil, fmt.Errorf("postgres: lock %s: %w", q.Type, err)
		}
		w.typeLocks = append(w.typeLocks, q.Type)
	}
	return w.Writer.Search(q)
}

// Read implements store.Tx: the resource's row stays locked until the
// transaction ends, so that a read followed by a Put of the next version
// is not undone by a concurrent writer (which waits, then reads this
// transaction's version).
func (w *writeTx) Read(typ, id string) (*store.Resource, error) {
	// The lock first, then the read: a statement of its own sees what the
	// transaction it waited for committed.
	if _, err := w.tx.ExecContext(w.ctx, `SELECT 1 FROM resource WHERE type = $1 AND id = $2 FOR UPDATE`, typ, id); err != nil {
		return nil, fmt.Errorf("postgres: lock %s/%s: %w", typ, id, err)
	}
	return w.Writer.Read(typ, id)
}

// AppendAudit implements store.Tx.
func (w *writeTx) AppendAudit(record []byte) {
	w.audit = append(w.audit, record)
}

func (w *writeTx) exec(query string, args ...any) error {
	_, err := w.tx.ExecContext(w.ctx, w.db.core.Rebind(query), args...)
	return err
}

// EraseOwner implements store.Store. PostgreSQL does not zero the space
// deleted rows leave (VACUUM makes it reusable): what protects erased
// data at rest is that the patient's data key is destroyed (crypto
// shredding), which the caller does.
func (db *DB) EraseOwner(ctx context.Context, owner string, audit func(resources, versions int) ([]byte, error)) (resources, versions int, err error) {
	if owner == "" {
		return 0, 0, errors.New("postgres: erase: no owner")
	}
	err = db.write(ctx, func(w *writeTx) error {
		resources, versions = 0, 0
		type res struct {
			rid        int64
			typ, id    string
			keys, form []byte
		}
		rows, err := w.tx.QueryContext(w.ctx, `SELECT rid, type, id, ix, ixf FROM resource WHERE owner = $1 FOR UPDATE`, owner)
		if err != nil {
			return err
		}
		var all []res
		for rows.Next() {
			var r res
			if err := rows.Scan(&r.rid, &r.typ, &r.id, &r.keys, &r.form); err != nil {
				rows.Close()
				return err
			}
			all = append(all, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range all {
			keys := r.form // the rows' forms are all a delete needs
			if len(keys) == 0 {
				if keys, err = db.core.Open(owner, r.typ, r.id, r.keys); err != nil {
					return fmt.Errorf("open the key list of %s/%s: %w", r.typ, r.id, err)
				}
			}
			if err := w.DeleteIndex(r.rid, keys); err != nil {
				return err
			}
			if err := w.exec(`UPDATE resource SET deleted = 1, ix = NULL, ixf = NULL WHERE rid = ?`, r.rid); err != nil {
				return err
			}
		}
		resources = len(all)
		res2, err := w.tx.ExecContext(w.ctx, `UPDATE version SET body = NULL WHERE owner = $1 AND body IS NOT NULL`, owner)
		if err != nil {
			return err
		}
		n, _ := res2.RowsAffected()
		versions = int(n)
		if audit != nil {
			rec, err := audit(resources, versions)
			if err != nil {
				return err
			}
			w.AppendAudit(rec)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: erase: %w", err)
	}
	return resources, versions, nil
}
