package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/hestiahealth/hestia/internal/store"
)

// maxIncludeRounds bounds _include:iterate.
const maxIncludeRounds = 4

// includes resolves _include and _revinclude for a page of matches. It
// returns the included resources that are not matches, each once.
func (c *Core) includes(ctx context.Context, q Querier, params paramLookup, sq *store.Query, matches map[int64]*ridResource, rids []int64) ([]*store.Resource, error) {
	seen := make(map[int64]bool, len(rids))
	for _, rid := range rids {
		seen[rid] = true
	}
	var out []*store.Resource
	frontier := make([]*ridResource, 0, len(rids))
	for _, rid := range rids {
		if m := matches[rid]; m != nil {
			frontier = append(frontier, m)
		}
	}
	for round := 0; round < maxIncludeRounds && len(frontier) > 0; round++ {
		var found []int64
		for _, inc := range sq.Include {
			if round > 0 && !inc.Iterate {
				continue
			}
			got, err := forwardInclude(ctx, q, params, inc, frontier, room(sq, len(out)))
			if err != nil {
				return nil, err
			}
			found = append(found, got...)
		}
		for _, inc := range sq.RevInclude {
			if round > 0 && !inc.Iterate {
				continue
			}
			got, err := reverseInclude(ctx, q, params, inc, frontier, room(sq, len(out)))
			if err != nil {
				return nil, err
			}
			found = append(found, got...)
		}
		var fresh []int64
		for _, rid := range found {
			if !seen[rid] {
				seen[rid] = true
				fresh = append(fresh, rid)
			}
		}
		if len(sq.Visible) > 0 && len(fresh) > 0 {
			var err error
			if fresh, err = c.visibleRids(ctx, q, params, sq.Visible, fresh); err != nil {
				return nil, err
			}
		}
		if sq.IncludeLimit > 0 && len(out)+len(fresh) > sq.IncludeLimit {
			fresh = fresh[:max(0, sq.IncludeLimit-len(out))]
		}
		got, err := readByRid(ctx, q, fresh)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0]
		for _, rid := range fresh {
			if r := got[rid]; r != nil {
				out = append(out, r.Resource)
				frontier = append(frontier, r)
			}
		}
		if sq.IncludeLimit > 0 && len(out) >= sq.IncludeLimit {
			break
		}
	}
	return out, nil
}

func forwardInclude(ctx context.Context, q Querier, params paramLookup, inc store.Include, from []*ridResource, limitRows int) ([]int64, error) {
	var src []any
	for _, r := range from {
		if r.Type == inc.SourceType {
			src = append(src, r.rid)
		}
	}
	if len(src) == 0 {
		return nil, nil
	}
	pid, err := params.lookup(ctx, q, inc.Param)
	if err != nil {
		return nil, err
	}
	query := `SELECT DISTINCT t.rid FROM ix_ref x JOIN resource t ON t.type = x.ttype AND t.id = x.tid
WHERE x.pid = ? AND t.deleted = 0 AND x.rid IN (` + placeholders(len(src)) + `)`
	args := append([]any{pid}, src...)
	if inc.TargetType != "" {
		query += ` AND x.ttype = ?`
		args = append(args, inc.TargetType)
	}
	return queryRids(ctx, q, query+" LIMIT ?", append(args, limitRows))
}

func reverseInclude(ctx context.Context, q Querier, params paramLookup, inc store.Include, to []*ridResource, limitRows int) ([]int64, error) {
	pid, err := params.lookup(ctx, q, inc.Param)
	if err != nil {
		return nil, err
	}
	var out []int64
	byType := make(map[string][]any)
	for _, r := range to {
		if inc.TargetType == "" || inc.TargetType == r.Type {
			byType[r.Type] = append(byType[r.Type], r.ID)
		}
	}
	for typ, ids := range byType {
		query := `SELECT DISTINCT s.rid FROM ix_ref x JOIN resource s ON s.rid = x.rid
WHERE x.pid = ? AND x.ttype = ? AND s.type = ? AND s.deleted = 0 AND x.tid IN (` + placeholders(len(ids)) + `)`
		args := append([]any{pid, typ, inc.SourceType}, ids...)
		got, err := queryRids(ctx, q, query+" LIMIT ?", append(args, limitRows))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// visibleRids keeps of rids those the access conditions let through, in
// their order.
func (c *Core) visibleRids(ctx context.Context, q Querier, params paramLookup, visible []store.Clause, rids []int64) ([]int64, error) {
	b := &builder{ctx: ctx, c: c, q: q, params: params, visible: visible}
	defer func() { unregisterMatchers(b.matcherIDs) }()
	b.w("SELECT r.rid FROM resource r WHERE r.rid IN (", placeholders(len(rids)), ")")
	for _, rid := range rids {
		b.arg(rid)
	}
	b.visibleOn("r")
	if b.err != nil {
		return nil, b.err
	}
	got, err := queryRids(ctx, q, b.sb.String(), b.args)
	if err != nil {
		return nil, err
	}
	ok := make(map[int64]bool, len(got))
	for _, rid := range got {
		ok[rid] = true
	}
	return slices.DeleteFunc(rids, func(rid int64) bool { return !ok[rid] }), nil
}

// room is how many rows one include query may still add (one more than the
// cap leaves, so that reaching it is seen).
func room(sq *store.Query, have int) int {
	if sq.IncludeLimit <= 0 {
		return 1 << 30
	}
	return max(1, sq.IncludeLimit-have+1)
}

func queryRids(ctx context.Context, q Querier, query string, args []any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("include: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var rid int64
		if err := rows.Scan(&rid); err != nil {
			return nil, fmt.Errorf("include: %w", err)
		}
		out = append(out, rid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("include: %w", err)
	}
	return out, nil
}
