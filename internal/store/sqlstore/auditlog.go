package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/store"
)

// The audit trail's transparency log, in the tables audit_record (each
// record with its leaf hash), audit_node (tree nodes from storedLevel up;
// those below are computed from the leaves) and audit_patient (the
// patients each record names, as blind-index tags). Rows are only ever
// inserted. The driver decides when records are appended (SQLite: with
// each batch; PostgreSQL: by the one node that sequences them) and holds
// the tree in memory; this file writes and reads the rows.

// AppendLog appends records to the log whose tree (of the stored size)
// is tree, in order: their rows, leaf hashes, patient tags and the tree
// nodes they complete. entries, when not nil, receives each record's
// index (entries[k] may be nil). tree is updated; the caller publishes it
// once the transaction commits.
func (w *Writer) AppendLog(tree *tlog.Tree, recs [][]byte, entries []*uint64) error {
	// Rows go in with multi-row INSERTs of at most auditChunk rows: one
	// statement per chunk, not one per row.
	var records, nodes, tags []any
	var leaf []byte
	put := func(id tlog.NodeID, hash []byte) {
		switch {
		case id.Level == 0:
			leaf = hash
		case id.Level >= storedLevel:
			nodes = append(nodes, id.Level, id.Index, hash)
		}
	}
	flush := func(final bool) error {
		for len(records) >= 3*auditChunk || final && len(records) > 0 {
			n := min(len(records), 3*auditChunk)
			if err := w.exec(multiInsert("audit_record (idx, record, leaf)", 3, n/3), records[:n]...); err != nil {
				return fmt.Errorf("audit records: %w", err)
			}
			records = records[n:]
		}
		for len(tags) >= 2*auditChunk || final && len(tags) > 0 {
			n := min(len(tags), 2*auditChunk)
			if err := w.exec(multiInsert("audit_patient (tag, idx)", 2, n/2), tags[:n]...); err != nil {
				return fmt.Errorf("audit patients: %w", err)
			}
			tags = tags[n:]
		}
		for len(nodes) >= 3*auditChunk || final && len(nodes) > 0 {
			n := min(len(nodes), 3*auditChunk)
			if err := w.exec(multiInsert("audit_node (level, idx, hash)", 3, n/3), nodes[:n]...); err != nil {
				return fmt.Errorf("audit nodes: %w", err)
			}
			nodes = nodes[n:]
		}
		return nil
	}
	for k, rec := range recs {
		i := tree.Append(rec, put)
		records = append(records, i, rec, leaf)
		// The patients the record names, for finding it (a record that
		// is not an envelope names none: it is stored all the same).
		if ts, _, err := store.UnpackAuditRecord(rec); err == nil {
			for k, t := range ts {
				if !slices.ContainsFunc(ts[:k], func(u []byte) bool { return bytes.Equal(t, u) }) {
					tags = append(tags, t, i)
				}
			}
		}
		if entries != nil && entries[k] != nil {
			*entries[k] = i
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	return flush(true)
}

// leafGap is how many unneeded leaves a run of leaf reads may span to
// serve two nodes with one query.
const leafGap = 64

// storedLevel is the lowest level of tree nodes stored in audit_node;
// level 0 (leaves) is in audit_record, levels in between are computed.
const storedLevel = 4

// auditChunk is the most rows one audit INSERT writes (within SQLite's
// limit of 32,766 parameters).
const auditChunk = 256

// multiInsert is "INSERT INTO table VALUES (?, …), …" for rows rows of
// width columns; the statement cache keeps one per size.
func multiInsert(table string, width, rows int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	return "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")
}

// AuditRecords calls fn with the stored records of indices [from, to), in
// order.
func (c *Core) AuditRecords(ctx context.Context, q Querier, from, to uint64, fn func(index uint64, record []byte) error) error {
	rows, err := c.wrap(q).QueryContext(ctx, `SELECT idx, record FROM audit_record WHERE idx >= ? AND idx < ? ORDER BY idx`, from, min(to, math.MaxInt64))
	if err != nil {
		return fmt.Errorf("audit records: %w", err)
	}
	return eachRecord(rows, fn)
}

// eachRecord calls fn with each (index, record) row, and closes rows.
func eachRecord(rows *sql.Rows, fn func(index uint64, record []byte) error) error {
	defer rows.Close()
	for rows.Next() {
		var i uint64
		var rec []byte
		if err := rows.Scan(&i, &rec); err != nil {
			return fmt.Errorf("audit records: %w", err)
		}
		if err := fn(i, rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit records: %w", err)
	}
	return nil
}

// AuditByPatient calls fn with the stored records tagged with tag whose
// index is below before, newest first, at most limit of them (limit 0:
// all).
func (c *Core) AuditByPatient(ctx context.Context, q Querier, tag []byte, before uint64, limit int, fn func(index uint64, record []byte) error) error {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	rows, err := c.wrap(q).QueryContext(ctx, `SELECT r.idx, r.record FROM audit_patient p JOIN audit_record r ON r.idx = p.idx WHERE p.tag = ? AND p.idx < ? ORDER BY p.idx DESC LIMIT ?`, tag, min(before, math.MaxInt64), limit)
	if err != nil {
		return fmt.Errorf("audit records by patient: %w", err)
	}
	return eachRecord(rows, fn)
}

// AuditNodes reads stored tree nodes through q, for proofs
// (tlog.Inclusion, tlog.Consistency) and for loading the tree.
func (c *Core) AuditNodes(q Querier) tlog.Nodes { return auditNodes{c.wrap(q)} }

type auditNodes struct{ q Querier }

func (n auditNodes) Nodes(ctx context.Context, ids []tlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	// Nodes below storedLevel are computed from the leaves they cover,
	// read in runs: nodes whose leaves lie close together share a read
	// (a proof's few nodes lie apart; Verify's many lie together).
	var low []int
	var stored []tlog.NodeID
	var at []int
	for i, id := range ids {
		if id.Level >= storedLevel {
			stored, at = append(stored, id), append(at, i)
			continue
		}
		low = append(low, i)
	}
	slices.SortFunc(low, func(a, b int) int {
		x, _ := ids[a].Coverage()
		y, _ := ids[b].Coverage()
		return cmp.Compare(x, y)
	})
	for k := 0; k < len(low); {
		lo, hi := ids[low[k]].Coverage()
		end := k + 1
		for ; end < len(low); end++ {
			a, b := ids[low[end]].Coverage()
			if a > hi+leafGap {
				break
			}
			hi = max(hi, b)
		}
		leaves, err := n.leaves(ctx, lo, hi)
		if err != nil {
			return nil, err
		}
		for _, i := range low[k:end] {
			a, b := ids[i].Coverage()
			h, err := subtree(leaves[a-lo : b-lo])
			if err != nil {
				return nil, fmt.Errorf("%w: level %d index %d: %v", tlog.ErrMissingNode, ids[i].Level, ids[i].Index, err)
			}
			out[i] = h
		}
		k = end
	}
	if len(stored) == 0 {
		return out, nil
	}
	found := make(map[tlog.NodeID][]byte, len(stored))
	read := n.pairs // a proof's few nodes, which lie apart
	if len(stored) > 64 {
		read = n.ranges // Verify's many, which lie together
	}
	if err := read(ctx, stored, found); err != nil {
		return nil, err
	}
	for k, i := range at {
		h, ok := found[stored[k]]
		if !ok {
			return nil, fmt.Errorf("%w: level %d index %d", tlog.ErrMissingNode, stored[k].Level, stored[k].Index)
		}
		out[i] = h
	}
	return out, nil
}

// StoredBeyond implements tlog.Extent: whether a stored tree node covers
// records at or past size, or a patient tag names one.
func (n auditNodes) StoredBeyond(ctx context.Context, size uint64) (bool, error) {
	rows, err := n.q.QueryContext(ctx, `SELECT level, max(idx) FROM audit_node GROUP BY level`)
	if err != nil {
		return false, fmt.Errorf("audit nodes: %w", err)
	}
	defer rows.Close()
	beyond := false
	for rows.Next() {
		var level uint
		var top uint64
		if err := rows.Scan(&level, &top); err != nil {
			return false, fmt.Errorf("audit nodes: %w", err)
		}
		if (top+1)<<level > size {
			beyond = true
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("audit nodes: %w", err)
	}
	if beyond {
		return true, nil
	}
	var tagged bool
	if err := n.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_patient WHERE idx >= ?)`, size).Scan(&tagged); err != nil {
		return false, fmt.Errorf("audit patients: %w", err)
	}
	return tagged, nil
}

// Derived implements tlog.Derived: nodes between the leaves and
// storedLevel are computed from the leaves.
func (n auditNodes) Derived(id tlog.NodeID) bool { return id.Level > 0 && id.Level < storedLevel }

// leaves reads the leaf hashes of records [lo, hi), nil where a record is
// missing.
func (n auditNodes) leaves(ctx context.Context, lo, hi uint64) ([][]byte, error) {
	out := make([][]byte, hi-lo)
	rows, err := n.q.QueryContext(ctx, `SELECT idx, leaf FROM audit_record WHERE idx >= ? AND idx < ?`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("audit leaves: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i uint64
		var h []byte
		if err := rows.Scan(&i, &h); err != nil {
			return nil, fmt.Errorf("audit leaves: %w", err)
		}
		out[i-lo] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit leaves: %w", err)
	}
	return out, nil
}

// subtree is the root of the perfect subtree over leaves (a power of two
// of them, all present).
func subtree(leaves [][]byte) ([]byte, error) {
	level := make([][]byte, len(leaves))
	for i, h := range leaves {
		if h == nil {
			return nil, errors.New("a leaf is missing")
		}
		level[i] = h
	}
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			level[i] = tlog.Hasher.HashChildren(level[2*i], level[2*i+1])
		}
		level = level[:len(level)/2]
	}
	return level[0], nil
}

// pairs reads stored nodes with one query that names each (typed: a
// PostgreSQL VALUES list does not infer its types from the comparison).
func (n auditNodes) pairs(ctx context.Context, ids []tlog.NodeID, found map[tlog.NodeID][]byte) error {
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id.Level, id.Index)
	}
	rows, err := n.q.QueryContext(ctx, `SELECT level, idx, hash FROM audit_node WHERE (level, idx) IN (VALUES `+
		strings.TrimSuffix(strings.Repeat("(CAST(? AS INTEGER), CAST(? AS BIGINT)), ", len(ids)), ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("audit nodes: %w", err)
	}
	return scanNodes(rows, found)
}

// ranges reads stored nodes with one range query per run of nearby nodes
// at a level.
func (n auditNodes) ranges(ctx context.Context, ids []tlog.NodeID, found map[tlog.NodeID][]byte) error {
	type span struct {
		level  uint
		lo, hi uint64
	}
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b tlog.NodeID) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Index, b.Index))
	})
	var spans []span
	for _, id := range sorted {
		if k := len(spans) - 1; k >= 0 && spans[k].level == id.Level && id.Index <= spans[k].hi+leafGap {
			spans[k].hi = id.Index
			continue
		}
		spans = append(spans, span{id.Level, id.Index, id.Index})
	}
	for _, s := range spans {
		rows, err := n.q.QueryContext(ctx, `SELECT level, idx, hash FROM audit_node WHERE level = ? AND idx BETWEEN ? AND ?`, s.level, s.lo, s.hi)
		if err != nil {
			return fmt.Errorf("audit nodes: %w", err)
		}
		if err := scanNodes(rows, found); err != nil {
			return err
		}
	}
	return nil
}

// scanNodes adds (level, idx, hash) rows to found, and closes rows.
func scanNodes(rows *sql.Rows, found map[tlog.NodeID][]byte) error {
	defer rows.Close()
	for rows.Next() {
		var id tlog.NodeID
		var h []byte
		if err := rows.Scan(&id.Level, &id.Index, &h); err != nil {
			return fmt.Errorf("audit nodes: %w", err)
		}
		found[id] = h
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit nodes: %w", err)
	}
	return nil
}
