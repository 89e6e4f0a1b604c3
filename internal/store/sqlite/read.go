package sqlite

import (
	"context"
	"database/sql/driver"

	"modernc.org/sqlite"

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

// The shared search SQL calls back into Go for conditions and sort keys
// that need a resource's key list (see sqlstore's match.go).
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("hestia_match", 6, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		return sqlstore.MatchFunc(args)
	})
	sqlite.MustRegisterDeterministicScalarFunction("hestia_sortkey", 8, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		return sqlstore.SortKeyFunc(args)
	})
}

// Read implements store.Store.
func (db *DB) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	return db.core.Read(ctx, db.rpool, typ, id)
}

// ReadVersion implements store.Store.
func (db *DB) ReadVersion(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	return db.core.ReadVersion(ctx, db.rpool, typ, id, version)
}

// ReadMany implements store.Store.
func (db *DB) ReadMany(ctx context.Context, refs []store.Ref) ([]*store.Resource, error) {
	return db.core.ReadMany(ctx, db.rpool, refs)
}

// History implements store.Store.
func (db *DB) History(ctx context.Context, q *store.HistoryQuery) (*store.HistoryPage, error) {
	return db.core.History(ctx, db.rpool, q)
}

// Search implements store.Store.
func (db *DB) Search(ctx context.Context, q *store.Query) (*store.SearchResult, error) {
	return db.core.Search(ctx, db.rpool, q)
}
