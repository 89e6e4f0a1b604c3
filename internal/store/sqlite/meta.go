package sqlite

import "context"

// SchemaVersion returns the number of migrations applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.keyrd.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}
