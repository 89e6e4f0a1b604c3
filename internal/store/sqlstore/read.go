package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hestiahealth/hestia/internal/store"
)

const selectCurrent = `SELECT r.type, r.id, r.version, v.updated, v.method, r.deleted, v.owner, v.body
FROM resource r JOIN version v ON v.rid = r.rid AND v.version = r.version`

// Read returns the current version of a resource (store.Store) from q.
func (c *Core) Read(ctx context.Context, q Querier, typ, id string) (*store.Resource, error) {
	return c.read(ctx, c.wrap(q), typ, id)
}

func (c *Core) read(ctx context.Context, q Querier, typ, id string) (*store.Resource, error) {
	row := q.QueryRowContext(ctx, selectCurrent+` WHERE r.type = ? AND r.id = ?`, typ, id)
	r, err := scanResource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", typ, id, err)
	}
	return r, nil
}

// ReadVersion returns one version (store.Store) from q.
func (c *Core) ReadVersion(ctx context.Context, q Querier, typ, id string, version int64) (*store.Resource, error) {
	row := c.wrap(q).QueryRowContext(ctx, `SELECT r.type, r.id, v.version, v.updated, v.method, CASE WHEN v.body IS NULL THEN 1 ELSE 0 END, v.owner, v.body
FROM resource r JOIN version v ON v.rid = r.rid WHERE r.type = ? AND r.id = ? AND v.version = ?`, typ, id, version)
	r, err := scanResource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s/_history/%d: %w", typ, id, version, err)
	}
	return r, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanResource(s scanner) (*store.Resource, error) {
	var r store.Resource
	var updated int64
	var method, deleted int
	var body []byte
	if err := s.Scan(&r.Type, &r.ID, &r.Version, &updated, &method, &deleted, &r.Owner, &body); err != nil {
		return nil, err
	}
	r.Updated = FromMicros(updated)
	r.Method = store.Method(method)
	r.Deleted = deleted != 0
	if !r.Deleted {
		r.Body = body
	}
	return &r, nil
}

// ReadMany returns the current versions of resources (store.Store) from q.
func (c *Core) ReadMany(ctx context.Context, q Querier, refs []store.Ref) ([]*store.Resource, error) {
	return readMany(ctx, c.wrap(q), refs)
}

func readMany(ctx context.Context, q Querier, refs []store.Ref) ([]*store.Resource, error) {
	var out []*store.Resource
	const chunk = 400
	for len(refs) > 0 {
		n := min(chunk, len(refs))
		part := refs[:n]
		refs = refs[n:]
		var sb strings.Builder
		sb.WriteString(selectCurrent)
		sb.WriteString(` WHERE r.deleted = 0 AND (r.type, r.id) IN (VALUES `)
		args := make([]any, 0, 2*len(part))
		for i, ref := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?)")
			args = append(args, ref.Type, ref.ID)
		}
		sb.WriteString(")")
		rows, err := q.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("read many: %w", err)
		}
		for rows.Next() {
			r, err := scanResource(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read many: %w", err)
			}
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read many: %w", err)
		}
	}
	return out, nil
}
