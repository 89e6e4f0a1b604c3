// Package postgres is Hestia's storage driver for PostgreSQL, the engine
// of deployments that run several stateless Hestia nodes on one database.
// It shares its SQL with the SQLite driver (internal/store/sqlstore) and
// talks to the server through github.com/jackc/pgx/v5.
//
// Invariants:
//   - Every Update runs in its own transaction (READ COMMITTED, whatever
//     the database's default) and returns after COMMIT, which PostgreSQL
//     makes durable (synchronous_commit on, the server's default), or after
//     it failed. The caller may give up while it waits for a connection;
//     once begun, the transaction runs detached from the caller's
//     cancellation. (A connection lost during COMMIT leaves the outcome
//     unknown to the caller, as with any client of any database; the write
//     and its audit record commit together or not at all either way.)
//   - Reads outside transactions use a pool of their own, so a write
//     transaction that reads through the store never waits for a
//     connection its own kind holds.
//   - Rows a transaction reads to replace (a resource's version and key
//     list; re-indexing) are locked until it ends (FOR UPDATE).
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
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

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
	cfg  Config
	pool *sql.DB // write transactions, the audit appender and sequencer
	// read serves reads outside transactions. A pool of its own: a write
	// transaction may read through the store (the engine checks access
	// facts inside transaction Bundles), and on the pool it holds, as many
	// such transactions as it has connections would wait for ever.
	read          *sql.DB
	keyrd         *sql.DB // reads the keyset table: see LoadKey
	sqlstore.Side         // accounts, OAuth state, checkpoints, meta
	core          *sqlstore.Core
	audit         auditLog
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
	conn, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", redact(err))
	}
	for k, v := range sessionSettings {
		conn.RuntimeParams[k] = v
	}
	open := func(n int) *sql.DB {
		p := stdlib.OpenDB(*conn)
		p.SetMaxOpenConns(n)
		p.SetMaxIdleConns(n)
		p.SetConnMaxIdleTime(5 * time.Minute)
		return p
	}
	pool := open(cfg.MaxConns)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", redact(err))
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	db := &DB{cfg: cfg, pool: pool, read: open(cfg.MaxConns), keyrd: open(2), core: sqlstore.NewCore(sqlstore.Postgres)}
	db.core.SetCipher(cfg.Cipher)
	db.Side = db.core.NewSide(db.read, func(ctx context.Context, fn func(sqlstore.SideTx) error) error {
		return db.write(ctx, func(w *writeTx) error { return fn(w) })
	})
	if err := db.core.LoadParams(ctx, db.read); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := db.startAudit(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sessionSettings are set on every connection: a transaction stuck idle
// or a lock wait ends instead of holding its connection and locks for
// ever, and the server notices a node that vanished (its locks, the
// sequencer's lease among them, are released) within about a minute
// instead of the operating system's two hours.
var sessionSettings = map[string]string{
	"idle_in_transaction_session_timeout": "60000", // ms
	"lock_timeout":                        "60000", // ms
	"tcp_keepalives_idle":                 "30",    // s
	"tcp_keepalives_interval":             "10",    // s
	"tcp_keepalives_count":                "3",
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
	// A node may run as a role that can only read and write the tables:
	// it creates nothing unless something is missing.
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if !exists {
		if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", redact(err))
		}
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
		tx, err := conn.BeginTx(ctx, txOptions)
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
	err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v)
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
	db.read.Close()
	return db.pool.Close()
}

// Read implements store.Store.
func (db *DB) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	r, err := db.core.Read(ctx, db.read, typ, id)
	return r, textError(err)
}

// ReadVersion implements store.Store.
func (db *DB) ReadVersion(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	return db.core.ReadVersion(ctx, db.read, typ, id, version)
}

// ReadMany implements store.Store.
func (db *DB) ReadMany(ctx context.Context, refs []store.Ref) ([]*store.Resource, error) {
	return db.core.ReadMany(ctx, db.read, refs)
}

// History implements store.Store.
func (db *DB) History(ctx context.Context, q *store.HistoryQuery) (*store.HistoryPage, error) {
	return db.core.History(ctx, db.read, q)
}

// Search implements store.Store.
func (db *DB) Search(ctx context.Context, q *store.Query) (*store.SearchResult, error) {
	res, err := db.core.Search(ctx, db.read, q)
	return res, textError(err)
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
	for attempt := 1; ; attempt++ {
		err := textError(db.write1(ctx, fn))
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		time.Sleep(time.Duration(attempt*attempt)*time.Millisecond + rand.N(2*time.Millisecond))
	}
}

// txOptions pins the isolation the package's reasoning assumes, whatever
// the database's default_transaction_isolation.
var txOptions = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

func (db *DB) write1(ctx context.Context, fn func(w *writeTx) error) error {
	// The caller may give up while waiting for a connection; once the
	// transaction has begun it runs to its end whatever the caller does: a
	// cancelled COMMIT would leave the caller unsure whether it happened.
	conn, err := db.pool.Conn(ctx)
	if err != nil {
		if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "database is closed") {
			return store.ErrClosed
		}
		return fmt.Errorf("postgres: connect: %w", redact(err))
	}
	defer conn.Close()
	ctx = context.WithoutCancel(ctx)
	tx, err := conn.BeginTx(ctx, txOptions)
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

// textError turns PostgreSQL's refusal of a text value (a NUL character,
// invalid UTF-8) into store.ErrInvalidText, dropping its message, which
// quotes the offending bytes.
func textError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") {
		return fmt.Errorf("postgres: %w", store.ErrInvalidText)
	}
	return err
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
	db         *DB
	tx         *sql.Tx
	ctx        context.Context
	audit      [][]byte // audit records to append with the transaction
	typeLocks  []string // types whose search lock it holds
	ownerLocks []string // patients whose erasure lock it holds, shared
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

// Put implements store.Tx. A write to a patient's compartment holds the
// patient's erasure lock, shared, until the transaction ends: an erasure
// (which takes it alone) never runs between its statements.
func (w *writeTx) Put(wr *store.Write) error {
	if wr.Owner != "" && !slices.Contains(w.ownerLocks, wr.Owner) {
		if _, err := w.tx.ExecContext(w.ctx, `SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))`, ownerLockKey(wr.Owner)); err != nil {
			return fmt.Errorf("postgres: lock: %w", err)
		}
		w.ownerLocks = append(w.ownerLocks, wr.Owner)
	}
	return w.Writer.Put(wr)
}

// ownerLockKey names the advisory lock of a patient's compartment.
func ownerLockKey(owner string) string { return "hestia:owner:" + owner }

// AppendAudit implements store.Tx.
func (w *writeTx) AppendAudit(record []byte) {
	w.audit = append(w.audit, record)
}

// EraseOwner implements store.Store. PostgreSQL does not zero the space
// deleted rows leave (VACUUM makes it reusable): the deleted bodies and
// sealed key lists stay, in dead rows, the WAL and backups, as ciphertext
// under the patient's data key, which the caller destroys (crypto
// shredding); so do the deleted index rows and forms lists, which hold
// dates, numbers, quantities and references in the clear, until the space
// is reused and the WAL and backups are gone.
func (db *DB) EraseOwner(ctx context.Context, owner string, audit func(resources, versions int) ([]byte, error)) (resources, versions int, err error) {
	if owner == "" {
		return 0, 0, errors.New("postgres: erase: no owner")
	}
	err = db.write(ctx, func(w *writeTx) error {
		resources, versions = 0, 0
		// Alone with the patient's compartment: writes to it wait, and
		// none is half done (see writeTx.Put).
		if _, err := w.tx.ExecContext(w.ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, ownerLockKey(owner)); err != nil {
			return err
		}
		var err error
		resources, versions, err = w.Writer.EraseOwner(owner, audit, w.AppendAudit)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: erase: %w", err)
	}
	return resources, versions, nil
}
