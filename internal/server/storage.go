package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/hestiahealth/hestia/internal/access"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/oauth"
	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/postgres"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

// Storage is what a node needs of its database, whichever the driver
// (store/sqlite, store/postgres): the FHIR store, and the tables of keys,
// accounts, authorization grants, the audit log and its checkpoints.
type Storage interface {
	store.Store
	crypt.KeyStore
	auth.Store
	oauth.Store
	oauth.Registry
	oauth.MetaStore
	engine.AuditLog
	CountUsers(ctx context.Context) (int, error)
	// InitMeta stores the pairs unless their keys are stored already, in
	// one transaction, and returns the pairs as stored afterwards.
	InitMeta(ctx context.Context, pairs [][2]string) ([][2]string, error)
	AuditLog(ctx context.Context, fn func(index uint64, record []byte) error) error
	SaveCheckpoint(ctx context.Context, size uint64, note []byte) error
	Checkpoints(ctx context.Context) ([][]byte, error)
	LatestCheckpoint(ctx context.Context) ([]byte, bool, error)
	Reindex(ctx context.Context, encode func(*store.Index) error, progress func(done, total int)) (int, error)
	Reseal(ctx context.Context, fn func(*sqlstore.Sealed) ([]byte, error), progress func(done, total int)) (int, error)
	SetCipher(c sqlstore.KeyCipher)
}

var (
	_ Storage = (*sqlite.DB)(nil)
	_ Storage = (*postgres.DB)(nil)
)

// OpenStorage opens the database cfg names: PostgreSQL for a postgres://
// URL in cfg.Storage, otherwise the SQLite file in the data directory (the
// data directory must exist). It opens the database alone, without keys:
// for tools that read what needs none, such as the audit log's records.
func OpenStorage(ctx context.Context, cfg Config) (Storage, error) { return openStorage(ctx, cfg) }

// openStorage opens the database cfg names.
func openStorage(ctx context.Context, cfg Config) (Storage, error) {
	if cfg.Storage == "" || cfg.Storage == "sqlite" {
		return sqlite.Open(ctx, sqlite.Config{
			Path:        filepath.Join(cfg.DataDir, DatabaseFile),
			Synchronous: cfg.Synchronous,
			BatchWindow: cfg.BatchWindow,
		})
	}
	if !isPostgresURL(cfg.Storage) {
		return nil, errors.New("storage: a postgres:// URL, or sqlite (the default)")
	}
	db, err := postgres.Open(ctx, postgres.Config{URL: cfg.Storage, MaxConns: cfg.StorageConns})
	if err != nil {
		return nil, err
	}
	return db, nil
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// StorageName describes cfg.Storage for logs: the driver, host and
// database, never the user or password.
func StorageName(s string) string {
	if s == "" || s == "sqlite" {
		return "sqlite"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "postgres"
	}
	return "postgres://" + u.Host + u.Path
}

// sequencer is implemented by a database on which several nodes append to
// one audit log: only the node that sequences the log runs its periodic
// duties (signing checkpoints).
type sequencer interface{ Sequencing() bool }

// leading reports whether this node runs the log's periodic duties: always
// on SQLite, on PostgreSQL while it holds the sequencer's lease.
func leading(db Storage) bool {
	if s, ok := db.(sequencer); ok {
		return s.Sequencing()
	}
	return true
}

// Migrate opens the data (which applies the migrations the database
// lacks), records the schema version it is at in the audit log (a
// configuration event, decided by the policy like every other), and
// returns it.
func Migrate(ctx context.Context, cfg Config) (int, error) {
	n, err := OpenNode(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return 0, err
	}
	defer n.Close()
	v, ok := n.DB.(interface {
		SchemaVersion(ctx context.Context) (int, error)
	})
	if !ok {
		return 0, errors.New("this database does not report its schema version")
	}
	version, err := v.SchemaVersion(ctx)
	if err != nil {
		return 0, err
	}
	detail := fmt.Sprintf("schema_migrated version=%d storage=%s", version, StorageName(cfg.Storage))
	if err := n.Engine.Configured(access.WithPrincipal(ctx, access.Local()), detail); err != nil {
		return 0, err
	}
	return version, nil
}
