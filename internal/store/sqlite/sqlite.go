// Package sqlite is Hestia's embedded storage driver: one SQLite database
// file in WAL mode, one writer connection owned by a group-commit goroutine,
// and a pool of read-only connections.
//
// Invariants:
//   - Only the writer goroutine writes. Concurrent Update calls are batched
//     into one SQLite transaction (each in its own SAVEPOINT, so one failing
//     call does not affect the others) and all return after the COMMIT.
//   - With the default synchronous=FULL, a returned Update is durable.
//   - Temporary tables and sorts stay in memory (temp_store=MEMORY): no
//     resource data is spilled to temporary files beside the database.
//   - All SQL is parameterized; values never become SQL text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures the driver.
type Config struct {
	// Path of the database file; it is created if missing.
	Path string
	// Readers is the size of the read connection pool (default 2×GOMAXPROCS, at least 4).
	Readers int
	// Synchronous is the SQLite synchronous setting: FULL (default, durable
	// at every commit) or NORMAL (faster; the last commits may be lost on
	// power failure, never corrupted).
	Synchronous string
	// BatchWindow is how long the writer waits to gather more writes into
	// one transaction after the first (default 0: take what is queued).
	BatchWindow time.Duration
	// MaxBatch caps the number of Update calls per transaction (default 64).
	MaxBatch int
	// CacheKiB is the writer's page cache (default 16 MiB); ReaderCacheKiB
	// each read connection's (default 8 MiB).
	CacheKiB       int
	ReaderCacheKiB int
	// Cipher seals the key lists; nil leaves them unsealed.
	Cipher KeyCipher
}

// KeyCipher seals the key lists of resources (see sqlstore.KeyCipher).
type KeyCipher = sqlstore.KeyCipher

// DB is an open database. It implements store.Store.
type DB struct {
	cfg           Config
	read          *sql.DB
	rpool         *sqlstore.StmtPool
	core          *sqlstore.Core // the shared SQL: search, reads, index writes
	sqlstore.Side                // accounts, OAuth state, checkpoints, meta
	keyrd         *sql.DB        // reads the keyset table: see LoadKey
	write         *sql.DB
	ckpt          *sql.DB
	wconn         *sql.Conn
	jobs          chan *job
	audit         auditLog
	adopt         adoption      // journal records waiting for the writer (journal.go)
	wake          chan struct{} // tells the writer journal records wait
	done          chan struct{}
	once          sync.Once
	mu            sync.RWMutex // guards closed
	closed        bool
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database at cfg.Path and migrates it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	if cfg.Readers <= 0 {
		cfg.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	switch strings.ToUpper(cfg.Synchronous) {
	case "":
		cfg.Synchronous = "FULL"
	case "FULL", "NORMAL":
		cfg.Synchronous = strings.ToUpper(cfg.Synchronous)
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL, not %q", cfg.Synchronous)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 64
	}
	if cfg.CacheKiB <= 0 {
		cfg.CacheKiB = 16 << 10
	}
	write, err := sql.Open("sqlite", dsn(cfg.Path, []string{
		"journal_mode(WAL)",
		"synchronous(" + cfg.Synchronous + ")",
		// The writer never checkpoints: a background goroutine does, so
		// that copying the WAL into the database and its fsync never
		// hold up a commit.
		"wal_autocheckpoint(0)",
		"busy_timeout(10000)",
		"temp_store(MEMORY)",
		"foreign_keys(OFF)",
		"cache_size(-" + strconv.Itoa(cfg.CacheKiB) + ")",
		"secure_delete(ON)",
	}, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	write.SetMaxOpenConns(1)
	wconn, err := write.Conn(ctx)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	if err := migrate(ctx, wconn); err != nil {
		wconn.Close()
		write.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite", dsn(cfg.Path, []string{
		"busy_timeout(10000)",
		"temp_store(MEMORY)",
		"query_only(ON)",
		"cache_size(-" + strconv.Itoa(cfg.ReaderCacheKiB) + ")",
	}, true))
	if err != nil {
		wconn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", cfg.Path, err)
	}
	// The checkpointer's own connection: checkpoints write the database
	// file, which the read-only pool cannot.
	ckpt, err := sql.Open("sqlite", dsn(cfg.Path, []string{"busy_timeout(10000)", "synchronous(" + cfg.Synchronous + ")"}, false))
	if err != nil {
		read.Close()
		wconn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	ckpt.SetMaxOpenConns(1)
	keyrd, err := sql.Open("sqlite", dsn(cfg.Path, []string{"busy_timeout(10000)", "query_only(ON)"}, true))
	if err != nil {
		ckpt.Close()
		read.Close()
		wconn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading keys: %w", cfg.Path, err)
	}
	keyrd.SetMaxOpenConns(2)
	read.SetMaxOpenConns(cfg.Readers)
	read.SetMaxIdleConns(cfg.Readers)
	read.SetConnMaxIdleTime(0)
	db := &DB{
		cfg:   cfg,
		read:  read,
		rpool: sqlstore.NewStmtPool(read),
		core:  sqlstore.NewCore(sqlstore.SQLite),
		keyrd: keyrd,
		write: write,
		ckpt:  ckpt,
		wconn: wconn,
		jobs:  make(chan *job, 1024),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	db.core.SetCipher(cfg.Cipher)
	db.Side = db.core.NewSide(db.rpool, func(ctx context.Context, fn func(sqlstore.SideTx) error) error {
		return db.write1(ctx, func(w *writeTx) error { return fn(w) })
	})
	if err := db.core.LoadParams(ctx, read); err != nil {
		db.closeConns()
		return nil, err
	}
	if err := db.loadAudit(ctx); err != nil {
		db.closeConns()
		return nil, err
	}
	if err := db.loadJournalMark(ctx); err != nil {
		db.closeConns()
		return nil, err
	}
	go db.writer()
	go db.checkpointer()
	return db, nil
}

// checkpointInterval is how often the WAL is folded into the database in
// the background; maxWAL bounds its size (see truncateWAL).
const (
	checkpointInterval = 500 * time.Millisecond
	maxWAL             = 64 << 20
)

// checkpointer folds the WAL into the database file in the background
// (PASSIVE: it never blocks readers or the writer).
func (db *DB) checkpointer() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	ctx := context.Background()
	for {
		select {
		case <-db.done:
			return
		case <-t.C:
		}
		_, _ = db.ckpt.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

func dsn(path string, pragmas []string, readOnly bool) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Set("mode", "ro")
	}
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func migrate(ctx context.Context, conn *sql.Conn) error {
	var have int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	if have > len(names) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary (%d)", have, len(names))
	}
	for i := have; i < len(names); i++ {
		text, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(text)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
		// PRAGMA does not take parameters; i+1 is an integer we control.
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
	}
	return nil
}

// SetCipher sets the KeyCipher that seals key lists. It must be called
// before the first write or search (the keyring that implements it keeps
// its own keys in this database, so it is made after Open).
func (db *DB) SetCipher(c KeyCipher) {
	db.cfg.Cipher = c
	db.core.SetCipher(c)
}

// Close stops the writer after the queued writes and closes the database.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.mu.Lock()
		db.closed = true
		close(db.jobs)
		db.mu.Unlock()
		<-db.done
		err = db.closeConns()
	})
	return err
}

func (db *DB) closeConns() error {
	var errs []error
	if db.rpool != nil {
		db.rpool.Close()
	}
	if db.core != nil {
		db.core.Close()
	}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.Close())
	}
	if db.keyrd != nil {
		errs = append(errs, db.keyrd.Close())
	}
	if db.wconn != nil {
		// Refresh the planner statistics, and fold the WAL into the
		// database file so a copied file is complete.
		_, _ = db.wconn.ExecContext(context.Background(), "PRAGMA optimize")
		_, _ = db.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, db.wconn.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

func fromMicros(us int64) time.Time { return sqlstore.FromMicros(us) }
