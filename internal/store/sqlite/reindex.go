package sqlite

import (
	"context"
	"fmt"

	"github.com/hestiahealth/hestia/internal/store"
)

// Reindex gives the index rows of every resource new index forms, while
// requests go on (see sqlstore's Core.Reindex).
func (db *DB) Reindex(ctx context.Context, encode func(*store.Index) error, progress func(done, total int)) (int, error) {
	n, err := db.core.Reindex(ctx, db.rpool, db.writeBatch(ctx), encode, progress)
	if err != nil {
		return n, fmt.Errorf("sqlite: %w", err)
	}
	return n, nil
}

// paramKeys maps parameter ids to keys.
func (db *DB) paramKeys(ctx context.Context) (map[int64]string, error) {
	return db.core.ParamKeys(ctx, db.rpool)
}
