package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/hestiahealth/hestia/internal/store"
)

// History lists versions (store.Store) from db.
func (c *Core) History(ctx context.Context, db Querier, q *store.HistoryQuery) (*store.HistoryPage, error) {
	db = c.wrap(db)
	var where []string
	var args []any
	if q.Type != "" {
		where = append(where, "r.type = ?")
		args = append(args, q.Type)
	}
	if q.ID != "" {
		where = append(where, "r.id = ?")
		args = append(args, q.ID)
	}
	if !q.Since.IsZero() {
		where = append(where, "v.updated >= ?")
		args = append(args, Micros(q.Since))
	}
	if !q.At.IsZero() {
		// The version that was current at the instant: written at or before
		// it, and not yet replaced by a newer version at that time.
		at := Micros(q.At)
		where = append(where, "v.updated <= ?", `NOT EXISTS (SELECT 1 FROM version n WHERE n.rid = v.rid AND n.version > v.version AND n.updated <= ?)`)
		args = append(args, at, at)
	}
	snapshot := q.Before
	if snapshot == 0 {
		if err := db.QueryRowContext(ctx, `SELECT coalesce(max(vid), 0) FROM version`).Scan(&snapshot); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	where = append(where, "v.vid <= ?")
	args = append(args, snapshot)
	cond := strings.Join(where, " AND ")
	from := ` FROM version v JOIN resource r ON r.rid = v.rid WHERE ` + cond

	page := &store.HistoryPage{Snapshot: snapshot}
	if err := db.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&page.Total); err != nil {
		return nil, fmt.Errorf("history count: %w", err)
	}
	if q.Count <= 0 {
		return page, nil
	}
	rows, err := db.QueryContext(ctx,
		`SELECT r.type, r.id, v.version, v.updated, v.method, CASE WHEN v.body IS NULL THEN 1 ELSE 0 END, v.owner, v.body`+from+
			` ORDER BY v.updated DESC, v.vid DESC LIMIT ? OFFSET ?`,
		append(args, q.Count, q.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		page.Versions = append(page.Versions, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return page, nil
}
