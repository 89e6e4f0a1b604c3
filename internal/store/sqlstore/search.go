package sqlstore

import (
	"cmp"
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hestiahealth/hestia/internal/store"
)

// Search evaluates a query (store.Store) on q.
func (c *Core) Search(ctx context.Context, q Querier, sq *store.Query) (*store.SearchResult, error) {
	return c.search(ctx, c.wrap(q), c.params, sq)
}

// paramLookup resolves parameter keys to ids for a query.
type paramLookup interface {
	lookup(ctx context.Context, q Querier, key string) (int64, error)
}

func (w *Writer) lookup(ctx context.Context, q Querier, key string) (int64, error) {
	if pid, ok := w.newParams[key]; ok {
		return pid, nil
	}
	return w.core.params.lookup(ctx, q, key)
}

func (c *Core) search(ctx context.Context, q Querier, params paramLookup, sq *store.Query) (*store.SearchResult, error) {
	res := &store.SearchResult{Total: -1, Snapshot: sq.Snapshot}
	if res.Snapshot == 0 {
		if err := q.QueryRowContext(ctx, `SELECT coalesce(max(rid), 0) FROM resource`).Scan(&res.Snapshot); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	b := &builder{ctx: ctx, c: c, q: q, params: params, visible: sq.Visible}
	where := ordered(sq.Where)
	// The first clause the index can answer selects the candidates (the
	// unary + keeps SQLite from scanning every resource of the type
	// instead); without one, every resource of the type is a candidate.
	driver := -1
	for i, c := range where {
		if drives(c) && indexable(c) {
			driver = i
			break
		}
	}
	typeTerm := `r.type = ?`
	if driver >= 0 && c.dialect == SQLite {
		typeTerm = `+r.type = ?`
	}
	b.sb.WriteString(` FROM resource r WHERE ` + typeTerm + ` AND r.deleted = 0 AND r.rid <= ?`)
	b.args = append(b.args, sq.Type, res.Snapshot)
	defer func() { unregisterMatchers(b.matcherIDs) }()
	// PostgreSQL checks on candidates in Go (post) what SQLite checks in
	// the query with hestia_match: the driving clause's superset, and,
	// when a clause drives, the others that are cheaper to check on its
	// candidates than to look up across the whole index.
	var post []*matcher
	checkInGo := func(c store.Clause) bool {
		if b.c.dialect != Postgres {
			return false
		}
		m, ok := b.compileMatcher(c)
		if ok {
			post = append(post, m)
		}
		return ok
	}
	if driver >= 0 {
		b.sb.WriteString(" AND ")
		b.clause("r", sq.Type, where[driver])
		if !exactIndex(where[driver]) && !checkInGo(where[driver]) {
			// The index gave a superset (a prefix bucket): check each.
			b.sb.WriteString(" AND ")
			b.matchClause("r", sq.Type, where[driver])
		}
	}
	for i, c := range where {
		if i == driver {
			continue
		}
		if driver >= 0 && checkOnCandidates(c) && checkInGo(c) {
			continue
		}
		b.sb.WriteString(" AND ")
		if !indexable(c) || (checkOnCandidates(c) && b.c.dialect == SQLite) {
			// Ranges, substrings and negations select much of an index
			// table, and some conditions the index cannot answer at all:
			// they are checked on each candidate's own row keys.
			if b.matchClause("r", sq.Type, c) {
				continue
			}
		}
		b.clause("r", sq.Type, c)
		if b.c.dialect == Postgres && indexable(c) && !exactIndex(c) {
			b.sb.WriteString(" AND ")
			b.matchClause("r", sq.Type, c)
		}
	}
	// The access conditions are SQL: their subqueries (the few resources
	// with a hidden label, say) are computed once, which is cheaper than
	// opening each candidate's key list.
	for _, c := range sq.Visible {
		b.sb.WriteString(" AND ")
		b.clause("r", sq.Type, c)
	}
	if b.err != nil {
		return nil, b.err
	}
	from, args := b.sb.String(), b.args

	count := func() error {
		if err := q.QueryRowContext(ctx, `SELECT count(*)`+from, args...).Scan(&res.Total); err != nil {
			return fmt.Errorf("search count: %w", err)
		}
		return nil
	}
	inGo := len(post) > 0 || c.dialect == Postgres && sortsByParam(sq.Sort)
	if sq.Count <= 0 {
		if sq.Total && inGo {
			_, total, _, err := c.goPage(ctx, q, params, nil, post, from, args, 0, 0)
			if err != nil {
				return nil, err
			}
			res.Total = total
		} else if sq.Total {
			if err := count(); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	var rids []int64
	if inGo {
		page, total, more, err := c.goPage(ctx, q, params, sq.Sort, post, from, args, sq.Offset, sq.Count)
		if err != nil {
			return nil, err
		}
		if sq.Total {
			res.Total = total
		}
		rids, res.More = page, more
	} else {
		var err error
		if rids, err = c.sqlPage(ctx, q, params, sq, from, args, res, count); err != nil {
			return nil, err
		}
	}
	byRid, err := readByRid(ctx, q, rids)
	if err != nil {
		return nil, err
	}
	for _, rid := range rids {
		if r := byRid[rid]; r != nil {
			res.Matches = append(res.Matches, r.Resource)
		}
	}
	if len(sq.Include) > 0 || len(sq.RevInclude) > 0 {
		if res.Included, err = c.includes(ctx, q, params, sq, byRid, rids); err != nil {
			return nil, err
		}
	}
	return res, nil
}

type ridResource struct {
	*store.Resource
	rid int64
}

func readByRid(ctx context.Context, q Querier, rids []int64) (map[int64]*ridResource, error) {
	out := make(map[int64]*ridResource, len(rids))
	for len(rids) > 0 {
		n := min(len(rids), 500)
		part := rids[:n]
		rids = rids[n:]
		args := make([]any, len(part))
		for i, r := range part {
			args[i] = r
		}
		rows, err := q.QueryContext(ctx, `SELECT r.rid, r.type, r.id, r.version, v.updated, v.method, r.deleted, v.owner, v.body
FROM resource r JOIN version v ON v.rid = r.rid AND v.version = r.version WHERE r.rid IN (`+placeholders(len(part))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("search read: %w", err)
		}
		for rows.Next() {
			var rid int64
			var rr store.Resource
			var updated int64
			var method, deleted int
			if err := rows.Scan(&rid, &rr.Type, &rr.ID, &rr.Version, &updated, &method, &deleted, &rr.Owner, &rr.Body); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search read: %w", err)
			}
			rr.Updated = FromMicros(updated)
			rr.Method = store.Method(method)
			rr.Deleted = deleted != 0
			if rr.Deleted {
				continue
			}
			out[rid] = &ridResource{Resource: &rr, rid: rid}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("search read: %w", err)
		}
	}
	return out, nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// builder writes the WHERE part of a search. The first error sticks.
type builder struct {
	ctx    context.Context
	c      *Core
	q      Querier
	params paramLookup
	sb     strings.Builder
	args   []any
	n      int // alias counter
	err    error
	// matcherIDs are the hestia_match matchers this query registered.
	matcherIDs []int64
	// visible are the query's access conditions, applied to every
	// resource row a chain or _has looks through too.
	visible []store.Clause
	// types are the target types of the chain being written, when it has
	// several (PostgreSQL: they bound resolveClause's candidates).
	types []string
}

// tokenCodes returns the code forms of conditions that are all token
// codes of one parameter (any system), and ok.
func tokenCodes(conds []store.Cond) (param string, codes []string, ok bool) {
	for _, c := range conds {
		t, isToken := c.(store.TokenCond)
		if !isToken || len(t.IxCode) == 0 || (param != "" && t.Param != param) {
			return "", nil, false
		}
		param = t.Param
		codes = append(codes, t.IxCode...)
	}
	return param, codes, param != ""
}

// inList writes "col IN (the strings xs)" as one argument, whatever
// their number: one statement shape for every list.
func (b *builder) inList(col string, xs []string) {
	if b.c.dialect == Postgres {
		b.w(col, " = ANY(?)")
		b.arg(xs)
		return
	}
	// SQLite: the strings travel as a JSON array.
	js, _ := json.Marshal(xs)
	b.w(col, " IN (SELECT value FROM json_each(?))")
	b.arg(string(js))
}

// visibleOn writes the access conditions for resource row a (after other
// conditions: each begins with AND).
func (b *builder) visibleOn(a string) {
	for _, c := range b.visible {
		b.w(" AND ")
		b.clause(a, "", c)
	}
}

func (b *builder) w(s ...string) {
	for _, x := range s {
		b.sb.WriteString(x)
	}
}

func (b *builder) arg(v ...any) { b.args = append(b.args, v...) }

func (b *builder) alias(prefix string) string {
	b.n++
	return prefix + strconv.Itoa(b.n)
}

func (b *builder) pid(key string) int64 {
	if b.err != nil {
		return -1
	}
	pid, err := b.params.lookup(b.ctx, b.q, key)
	if err != nil {
		b.err = err
		return -1
	}
	return pid
}

// clause writes an OR of conditions on the resource row `a`, whose type is
// typ ("" when it is not known statically).
func (b *builder) clause(a, typ string, c store.Clause) {
	if len(c) == 0 {
		b.w("TRUE")
		return
	}
	if !indexable(c) {
		if !b.matchClause(a, typ, c) {
			b.fail("a condition can neither use the index nor be checked on candidates")
		}
		return
	}
	b.w("(")
	for i, cond := range c {
		if i > 0 {
			b.w(" OR ")
		}
		b.cond(a, typ, cond)
	}
	b.w(")")
}

func (b *builder) where(a, typ string, where []store.Clause) {
	if len(where) == 0 {
		b.w("TRUE")
		return
	}
	for i, c := range where {
		if i > 0 {
			b.w(" AND ")
		}
		b.clause(a, typ, c)
		if indexable(c) && !exactIndex(c) {
			// The index gave a superset (a prefix bucket): check each,
			// as the top level does.
			b.w(" AND ")
			if !b.matchClause(a, typ, c) {
				b.fail("a prefix condition cannot be checked on candidates")
			}
		}
	}
}

func (b *builder) cond(a, typ string, c store.Cond) {
	switch c := c.(type) {
	case store.NotCond:
		b.w(a, ".rid NOT IN (")
		b.rowSelect(c.Cond)
		b.w(")")
	case store.MissingCond:
		table := kindTable(c.Kind)
		if table == "" {
			b.fail("missing: unknown kind")
			return
		}
		if c.Missing {
			b.w(a, ".rid NOT IN (SELECT rid FROM ", table, " WHERE pid = ?)")
		} else {
			b.w(a, ".rid IN (SELECT rid FROM ", table, " WHERE pid = ?)")
		}
		b.arg(b.pid(c.Param))
	case store.IDCond:
		if len(c.IDs) == 0 {
			b.w("FALSE")
			return
		}
		b.w(a, ".id IN (", placeholders(len(c.IDs)), ")")
		for _, id := range c.IDs {
			b.arg(id)
		}
	case store.LastUpdatedCond:
		b.rangePredicate(a+".updated", a+".updated", c.Prefix, c.Lo, c.Hi)
	case store.NoneCond:
		if len(c.Conds) == 0 {
			b.w("TRUE")
			return
		}
		if param, codes, ok := tokenCodes(c.Conds); ok {
			// Codes of one token parameter (security labels): one
			// lookup, whatever the systems (a code of another system
			// hides its resource too: the safe direction).
			// (Index forms are binary: placeholders, not JSON.)
			i := b.alias("i")
			b.w(a, ".rid NOT IN (SELECT ", i, ".rid FROM ix_token ", i, " WHERE ", i, ".pid = ? AND ")
			b.arg(b.pid(param))
			b.in(i+".code", codes)
			b.w(")")
			return
		}
		b.w(a, ".rid NOT IN (")
		for i, x := range c.Conds {
			if i > 0 {
				b.w(" UNION ALL ")
			}
			b.rowSelect(x)
		}
		b.w(")")
	case store.OwnerCond:
		// The owners travel as one JSON array: one statement shape for
		// every principal, whatever the number of patients in reach.
		b.w("(")
		if c.Not {
			b.w("NOT ")
		}
		b.w("(")
		in := func() {
			if len(c.Owners) == 1 {
				b.w(a, ".owner = ?")
				b.arg(c.Owners[0])
				return
			}
			b.inList(a+".owner", c.Owners)
		}
		tenant := func() {
			if len(c.TenantTypes) == 0 {
				b.w(a, ".owner = ''")
				return
			}
			b.w("(", a, ".owner = '' AND ")
			b.inList(a+".type", c.TenantTypes)
			b.w(")")
		}
		switch {
		case len(c.Owners) > 0 && c.Tenant:
			tenant()
			b.w(" OR ")
			in()
		case len(c.Owners) > 0:
			in()
		case c.Tenant:
			tenant()
		default:
			b.w("FALSE")
		}
		b.w("))")
	case store.TypeCond:
		if len(c.Types) == 0 {
			b.w(map[bool]string{false: "FALSE", true: "TRUE"}[c.Not])
			return
		}
		if len(c.Types) == 1 {
			op := " = ?"
			if c.Not {
				op = " <> ?"
			}
			b.w(a, ".type", op)
			b.arg(c.Types[0])
			return
		}
		if c.Not {
			b.w("NOT ")
		}
		b.inList(a+".type", c.Types)
	case store.ChainCond:
		x, t := b.alias("x"), b.alias("t")
		b.w(a, ".rid IN (SELECT ", x, ".rid FROM ix_ref ", x, " JOIN resource ", t, " ON ", t, ".type = ", x, ".ttype AND ", t, ".id = ", x, ".tid WHERE ",
			x, ".pid = ? AND ", t, ".deleted = 0 AND ", x, ".ttype IN (", placeholders(len(c.Types)), ") AND ")
		b.arg(b.pid(c.Param))
		for _, ty := range c.Types {
			b.arg(ty)
		}
		ty := ""
		if len(c.Types) == 1 {
			ty = c.Types[0]
		}
		outer := b.types
		b.types = c.Types
		b.where(t, ty, c.Where)
		b.types = outer
		b.visibleOn(t)
		b.w(")")
	case store.HasCond:
		x, s := b.alias("x"), b.alias("s")
		b.w(a, ".id IN (SELECT ", x, ".tid FROM ix_ref ", x, " JOIN resource ", s, " ON ", s, ".rid = ", x, ".rid WHERE ",
			x, ".pid = ? AND ", s, ".type = ? AND ", s, ".deleted = 0 AND ")
		b.arg(b.pid(c.Param), c.Type)
		if typ != "" {
			b.w(x, ".ttype = ? AND ")
			b.arg(typ)
		} else {
			b.w(x, ".ttype = ", a, ".type AND ")
		}
		b.where(s, c.Type, c.Where)
		b.visibleOn(s)
		b.w(")")
	case store.CompositeCond:
		if len(c.Parts) == 0 {
			b.w("TRUE")
			return
		}
		aliases := make([]string, len(c.Parts))
		b.w(a, ".rid IN (SELECT ")
		for i, p := range c.Parts {
			aliases[i] = b.alias("c")
			if i == 0 {
				b.w(aliases[0], ".rid FROM ", condTable(p), " ", aliases[0])
			} else {
				b.w(" JOIN ", condTable(p), " ", aliases[i], " ON ", aliases[i], ".rid = ", aliases[0], ".rid AND ", aliases[i], ".grp = ", aliases[0], ".grp")
			}
		}
		b.w(" WHERE ")
		for i, p := range c.Parts {
			if i > 0 {
				b.w(" AND ")
			}
			b.rowPredicate(aliases[i], p)
		}
		b.w(")")
	default:
		b.w(a, ".rid IN (")
		b.rowSelect(c)
		b.w(")")
	}
}

// rowSelect writes a SELECT of the rids of the index rows matching c.
func (b *builder) rowSelect(c store.Cond) {
	table := condTable(c)
	if table == "" {
		b.fail(fmt.Sprintf("condition %T cannot be negated", c))
		return
	}
	i := b.alias("i")
	b.w("SELECT ", i, ".rid FROM ", table, " ", i, " WHERE ")
	b.rowPredicate(i, c)
}

func condTable(c store.Cond) string {
	switch c.(type) {
	case store.StringCond:
		return "ix_string"
	case store.TokenCond:
		return "ix_token"
	case store.RefCond:
		return "ix_ref"
	case store.DateCond:
		return "ix_date"
	case store.NumberCond:
		return "ix_number"
	case store.QuantityCond:
		return "ix_quantity"
	case store.URICond:
		return "ix_uri"
	}
	return ""
}

func kindTable(k store.Kind) string {
	switch k {
	case store.KindString:
		return "ix_string"
	case store.KindToken:
		return "ix_token"
	case store.KindReference:
		return "ix_ref"
	case store.KindDate:
		return "ix_date"
	case store.KindNumber:
		return "ix_number"
	case store.KindQuantity:
		return "ix_quantity"
	case store.KindURI:
		return "ix_uri"
	}
	return ""
}

// in writes "col = ?" for one index form, "col IN (?, ...)" for several
// (while the blind-index key rotates, a value has a form under each key).
// No forms cannot match.
func (b *builder) in(col string, forms []string) {
	switch len(forms) {
	case 0:
		b.fail("condition without an index form")
	case 1:
		b.w(col, " = ?")
		b.arg(b.c.dialect.form(forms[0]))
	default:
		b.w(col, " IN (", strings.TrimSuffix(strings.Repeat("?, ", len(forms)), ", "), ")")
		for _, f := range forms {
			b.arg(b.c.dialect.form(f))
		}
	}
}

// rowPredicate writes the predicate on index row alias i for condition c.
func (b *builder) rowPredicate(i string, c store.Cond) {
	switch c := c.(type) {
	case store.StringCond:
		b.w(i, ".pid = ? AND ")
		b.arg(b.pid(c.Param))
		switch {
		case len(c.Ix) == 0:
			b.fail("string condition without an index form")
		case c.Match == store.StringPrefix:
			b.in(i+".norm", c.Ix)
		case c.Match == store.StringExact:
			b.in(i+".exact", c.Ix)
		default:
			b.fail("string condition cannot use the index")
		}
	case store.TokenCond:
		b.w(i, ".pid = ?")
		b.arg(b.pid(c.Param))
		if c.Code != "" {
			b.w(" AND ")
			b.in(i+".code", c.IxCode)
		}
		if c.System != nil {
			b.w(" AND ")
			b.in(i+".system", c.IxSystem)
		}
	case store.RefCond:
		b.w(i, ".pid = ?")
		b.arg(b.pid(c.Param))
		if c.URL != "" {
			b.w(" AND ", i, ".url = ?")
			b.arg(c.URL)
		} else {
			b.w(" AND ", i, ".tid = ?")
			b.arg(c.ID)
			if c.Type != "" {
				b.w(" AND ", i, ".ttype = ?")
				b.arg(c.Type)
			}
		}
	case store.DateCond:
		b.w(i, ".pid = ? AND ")
		b.arg(b.pid(c.Param))
		b.rangePredicate(i+".lo", i+".hi", c.Prefix, c.Lo, c.Hi)
	case store.NumberCond:
		b.w(i, ".pid = ? AND ")
		b.arg(b.pid(c.Param))
		b.numberPredicate(i, c)
	case store.QuantityCond:
		b.w(i, ".pid = ? AND ")
		b.arg(b.pid(c.Param))
		b.numberPredicate(i, c.NumberCond)
		switch {
		case c.System != "":
			b.w(" AND ", i, ".system = ? AND ", i, ".code = ?")
			b.arg(c.System, c.Code)
		case c.Code != "":
			b.w(" AND (", i, ".code = ? OR ", i, ".unit = ?)")
			b.arg(c.Code, c.Code)
		}
	case store.URICond:
		b.w(i, ".pid = ? AND ")
		b.arg(b.pid(c.Param))
		if c.Match != store.URIEqual || len(c.Ix) == 0 {
			b.fail("uri condition cannot use the index")
			return
		}
		b.in(i+".uri", c.Ix)
	default:
		b.fail(fmt.Sprintf("condition %T is not an index condition", c))
	}
}

// rangePredicate compares a stored range [lo, hi] with the search range
// [L, H] as the FHIR search prefixes define it.
func (b *builder) rangePredicate(lo, hi string, p store.Prefix, L, H int64) {
	switch p {
	case store.Eq:
		b.w("(", lo, " >= ? AND ", hi, " <= ?)")
		b.arg(L, H)
	case store.Ne:
		b.w("NOT (", lo, " >= ? AND ", hi, " <= ?)")
		b.arg(L, H)
	case store.Gt:
		b.w(hi, " > ?")
		b.arg(H)
	case store.Lt:
		b.w(lo, " < ?")
		b.arg(L)
	case store.Ge:
		b.w("(", hi, " > ? OR (", lo, " >= ? AND ", hi, " <= ?))")
		b.arg(H, L, H)
	case store.Le:
		b.w("(", lo, " < ? OR (", lo, " >= ? AND ", hi, " <= ?))")
		b.arg(L, L, H)
	case store.Sa:
		b.w(lo, " > ?")
		b.arg(H)
	case store.Eb:
		b.w(hi, " < ?")
		b.arg(L)
	case store.Ap:
		b.w("(", lo, " <= ? AND ", hi, " >= ?)")
		b.arg(H, L)
	default:
		b.fail("unknown prefix")
	}
}

func (b *builder) numberPredicate(i string, c store.NumberCond) {
	lo, hi := i+".lo", i+".hi"
	switch c.Prefix {
	case store.Eq:
		b.w("(", lo, " >= ? AND ", hi, " < ?)")
		b.arg(c.Lo, c.Hi)
	case store.Ne:
		b.w("NOT (", lo, " >= ? AND ", hi, " < ?)")
		b.arg(c.Lo, c.Hi)
	case store.Gt:
		b.w(hi, " > ?")
		b.arg(c.Value)
	case store.Lt:
		b.w(lo, " < ?")
		b.arg(c.Value)
	case store.Ge:
		b.w(hi, " >= ?")
		b.arg(c.Value)
	case store.Le:
		b.w(lo, " <= ?")
		b.arg(c.Value)
	case store.Sa: // starts after the range of the search value
		b.w(lo, " >= ?")
		b.arg(c.Hi)
	case store.Eb: // ends before it
		b.w(hi, " <= ?")
		b.arg(c.Lo)
	case store.Ap:
		b.w("(", lo, " <= ? AND ", hi, " >= ?)")
		b.arg(c.Hi, c.Lo)
	default:
		b.fail("unknown prefix")
	}
}

// sortKey appends one ORDER BY term and a comma. Keys come from each
// resource's own row keys (hestia_sortkey), not from the index tables.
func (b *builder) sortKey(order *strings.Builder, a string, s store.Sort) {
	dir, desc := " ASC", false
	if s.Desc {
		dir, desc = " DESC", true
	}
	switch s.Param {
	case store.SortID:
		order.WriteString(a + ".id" + dir + ", ")
		return
	case store.SortLastUpdated:
		order.WriteString(a + ".updated" + dir + ", ")
		return
	}
	table := kindIndex(s.Kind)
	if table < 0 {
		b.fail("sort: unknown kind")
		return
	}
	if desc {
		table = -table - 1
	}
	order.WriteString("hestia_sortkey(" + a + ".ix, " + a + ".owner, " + a + ".type, " + a + ".id, ?, ?, ?, " + a + ".ixf)" + dir + " NULLS LAST, ")
	b.arg(b.c.id, b.pid(s.Param), table)
}

func (b *builder) fail(msg string) {
	if b.err == nil {
		b.err = fmt.Errorf("search: %s", msg)
	}
}

// rank orders conditions by how few rows they usually select, so that the
// most selective one comes first and drives the query: references (a
// patient's data) and ids, then tokens and strings, then ranges, then
// negations.
func rank(c store.Cond) int {
	switch c := c.(type) {
	case store.IDCond:
		return 0
	case store.RefCond:
		return 1
	case store.TokenCond, store.URICond:
		return 2
	case store.StringCond:
		if c.Match == store.StringContains {
			return 5
		}
		return 3
	case store.CompositeCond, store.ChainCond, store.HasCond:
		return 4
	case store.DateCond, store.NumberCond, store.QuantityCond, store.LastUpdatedCond:
		return 5
	case store.MissingCond:
		if !c.Missing {
			return 6
		}
	}
	return 7
}

func clauseRank(c store.Clause) int {
	r := 0
	for _, x := range c {
		r = max(r, rank(x))
	}
	return r
}

// ordered returns the clauses, most selective first (AND is commutative).
func ordered(where []store.Clause) []store.Clause {
	out := slices.Clone(where)
	slices.SortStableFunc(out, func(a, b store.Clause) int { return clauseRank(a) - clauseRank(b) })
	return out
}

// drives reports whether a clause is a positive index condition whose
// rids can drive the query.
func drives(c store.Clause) bool {
	if len(c) != 1 {
		return false
	}
	switch x := c[0].(type) {
	case store.RefCond, store.TokenCond, store.StringCond, store.URICond, store.DateCond,
		store.NumberCond, store.QuantityCond, store.CompositeCond, store.ChainCond:
		return true
	case store.MissingCond:
		return !x.Missing
	}
	return false
}

// checkOnCandidates reports whether a clause that does not drive the
// query is checked on each candidate's row keys instead of the index. The
// driving clause already bounds the candidates, so a check costs
// microseconds each, whereas an index lookup costs what its own clause
// selects across all resources (all laboratory results, all dates since
// 2010). References stay index lookups: they are few per value, and a
// chain or _has needs the index anyway.
func checkOnCandidates(c store.Clause) bool {
	for _, x := range c {
		switch x.(type) {
		case store.RefCond, store.IDCond, store.LastUpdatedCond, store.ChainCond, store.HasCond, store.OwnerCond, store.TypeCond, store.NoneCond:
			return false
		}
	}
	return true
}

// indexable reports whether the index tables can answer every condition
// of a clause: a string needs an index form (not a short prefix, not
// :contains), a uri must be compared for equality.
func indexable(c store.Clause) bool {
	for _, x := range c {
		if !indexableCond(x) {
			return false
		}
	}
	return true
}

func indexableCond(c store.Cond) bool {
	switch c := c.(type) {
	case store.StringCond:
		return len(c.Ix) > 0 && c.Match != store.StringContains
	case store.URICond:
		return len(c.Ix) > 0 && c.Match == store.URIEqual
	case store.NotCond:
		return indexableCond(c.Cond)
	case store.CompositeCond:
		for _, p := range c.Parts {
			if !indexableCond(p) {
				return false
			}
		}
	}
	return true
}

// exactIndex reports whether the index answers a clause exactly; a string
// prefix is looked up by a bucket of its first characters, a superset.
func exactIndex(c store.Clause) bool {
	for _, x := range c {
		if s, ok := x.(store.StringCond); ok && s.Match == store.StringPrefix {
			return false
		}
		if cc, ok := x.(store.CompositeCond); ok && !exactIndex(cc.Parts) {
			return false
		}
	}
	return true
}

// matchClause writes a check of clause c on each candidate's row keys for
// row a (of type typ, "" when not known statically), reporting false when
// the clause has a condition only SQL can evaluate. SQLite runs the check
// inside the query (hestia_match); PostgreSQL cannot, and gets the rows
// that pass it (resolveClause).
func (b *builder) matchClause(a, typ string, c store.Clause) bool {
	m, ok := b.compileMatcher(c)
	if !ok {
		return false
	}
	if b.c.dialect == Postgres {
		b.resolveClause(a, typ, c, m)
		return true
	}
	id := registerMatcher(m)
	b.matcherIDs = append(b.matcherIDs, id)
	b.w("hestia_match(", a, ".ix, ", a, ".owner, ", a, ".type, ", a, ".id, ?, ", a, ".ixf)")
	b.arg(id)
	return true
}

// resolveClause writes "a.rid = ANY(rids)" for the resources of type typ
// whose row keys satisfy clause c (matcher m): PostgreSQL cannot call Go
// inside a query, so the check runs here, on the candidates the index
// gives for c (or every resource of the type when it gives none), before
// the query that uses it.
func (b *builder) resolveClause(a, typ string, c store.Clause, m *matcher) {
	if b.err != nil {
		return
	}
	sub := &builder{ctx: b.ctx, c: b.c, q: b.q, params: b.params, n: b.n + 1000}
	sub.w("SELECT r.rid, r.ix, r.owner, r.type, r.id, r.ixf FROM resource r WHERE r.deleted = 0")
	switch {
	case typ != "":
		sub.w(" AND r.type = ?")
		sub.arg(typ)
	case len(b.types) > 0: // a chain's target types
		sub.w(" AND ")
		sub.inList("r.type", b.types)
	}
	// The access conditions narrow the candidates as they narrow the query.
	sub.visible = b.visible
	sub.visibleOn("r")
	if indexable(c) {
		sub.w(" AND ")
		sub.clause("r", typ, c)
	}
	if sub.err != nil {
		b.err = sub.err
		return
	}
	rows, err := b.q.QueryContext(b.ctx, sub.sb.String(), sub.args...)
	if err != nil {
		b.err = fmt.Errorf("search: candidates: %w", err)
		return
	}
	defer rows.Close()
	rids := []int64{}
	buf := make([]row, 0, 32)
	seen := 0
	for rows.Next() {
		if seen++; seen > MaxCandidates {
			b.err = fmt.Errorf("search: more than %d candidates to check: %w", MaxCandidates, store.ErrTooCostly)
			return
		}
		var rid int64
		var ix, ixf []byte
		var owner, rtyp, id string
		if err := rows.Scan(&rid, &ix, &owner, &rtyp, &id, &ixf); err != nil {
			b.err = fmt.Errorf("search: candidates: %w", err)
			return
		}
		buf, err = candidateRows(b.c, []driver.Value{ix, owner, rtyp, id}, ixf, m.forms, buf[:0])
		if err != nil {
			b.err = fmt.Errorf("search: candidates: %w", err)
			return
		}
		if m.match(buf) {
			rids = append(rids, rid)
		}
	}
	if err := rows.Err(); err != nil {
		b.err = fmt.Errorf("search: candidates: %w", err)
		return
	}
	b.w(a, ".rid = ANY(?)")
	b.arg(rids)
}

// sqlPage returns the page of matches the database sorts (every sort key
// but SQLite's hestia_sortkey is a column).
func (c *Core) sqlPage(ctx context.Context, q Querier, params paramLookup, sq *store.Query, from string, args []any, res *store.SearchResult, count func() error) ([]int64, error) {
	var order strings.Builder
	ob := &builder{ctx: ctx, c: c, q: q, params: params}
	for _, s := range sq.Sort {
		ob.sortKey(&order, "r", s)
	}
	order.WriteString("r.rid")
	if ob.err != nil {
		return nil, ob.err
	}
	// ORDER BY terms come after WHERE in the text, so their arguments too.
	all := append(slices.Clone(args), ob.args...)
	all = append(all, sq.Count+1, sq.Offset)
	rows, err := q.QueryContext(ctx, `SELECT r.rid`+from+` ORDER BY `+order.String()+` LIMIT ? OFFSET ?`, all...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var rids []int64
	for rows.Next() {
		var rid int64
		if err := rows.Scan(&rid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("search: %w", err)
		}
		rids = append(rids, rid)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if len(rids) > sq.Count {
		res.More = true
		rids = rids[:sq.Count]
	}
	if sq.Total {
		if !res.More && (len(rids) > 0 || sq.Offset == 0) {
			// The last page: the total is known without counting.
			res.Total = sq.Offset + len(rids)
		} else if err := count(); err != nil {
			return nil, err
		}
	}
	return rids, nil
}

// sortsByParam reports whether a sort needs a search parameter's values
// (anything but _id and _lastUpdated).
func sortsByParam(sorts []store.Sort) bool {
	for _, s := range sorts {
		if s.Param != store.SortID && s.Param != store.SortLastUpdated {
			return true
		}
	}
	return false
}

// goPage returns a page of the matches (SELECT r.rid + from) that pass
// the checks post, with their total and whether more follow: the checks
// and the sort keys of search parameters read each resource's row keys,
// which PostgreSQL cannot inside a query. Keys sort as SQLite's
// hestia_sortkey does: the smallest value ascending, the largest
// descending, resources without one last, then by rid. Without a sort by
// a search parameter the database orders the candidates and only the
// page is kept.
func (c *Core) goPage(ctx context.Context, q Querier, params paramLookup, sorts []store.Sort, post []*matcher, from string, args []any, offset, count int) (page []int64, total int, more bool, err error) {
	type keyed struct {
		rid  int64
		keys []driver.Value
	}
	byParam := sortsByParam(sorts)
	pids := make([]int64, len(sorts))
	tables := make([]int64, len(sorts))
	order := " ORDER BY "
	for i, s := range sorts {
		dir := " ASC"
		if s.Desc {
			dir = " DESC"
		}
		switch s.Param {
		case store.SortID:
			order += "r.id" + dir + ", "
			continue
		case store.SortLastUpdated:
			order += "r.updated" + dir + ", "
			continue
		}
		t := kindIndex(s.Kind)
		if t < 0 {
			return nil, 0, false, fmt.Errorf("search: sort: unknown kind")
		}
		pid, err := params.lookup(ctx, q, s.Param)
		if err != nil {
			return nil, 0, false, err
		}
		pids[i], tables[i] = pid, int64(t)
		if s.Desc {
			tables[i] = -int64(t) - 1
		}
	}
	order += "r.rid"
	if byParam {
		order = "" // sorted here
	}
	rows, err := q.QueryContext(ctx, `SELECT r.rid, r.id, r.updated, r.ix, r.owner, r.type, r.ixf`+from+order, args...)
	if err != nil {
		return nil, 0, false, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var all []keyed
	seen := 0
	buf := make([]row, 0, 32)
candidates:
	for rows.Next() {
		if seen++; seen > MaxCandidates {
			return nil, 0, false, fmt.Errorf("search: more than %d candidates to check: %w", MaxCandidates, store.ErrTooCostly)
		}
		var rid, updated int64
		var id, owner, typ string
		var ix, ixf []byte
		if err := rows.Scan(&rid, &id, &updated, &ix, &owner, &typ, &ixf); err != nil {
			return nil, 0, false, fmt.Errorf("search: %w", err)
		}
		for _, m := range post {
			var err error
			if buf, err = candidateRows(c, []driver.Value{ix, owner, typ, id}, ixf, m.forms, buf[:0]); err != nil {
				return nil, 0, false, fmt.Errorf("search: candidates: %w", err)
			}
			if !m.match(buf) {
				continue candidates
			}
		}
		if !byParam {
			// In order already: keep the page, count the rest.
			switch n := total; {
			case n >= offset && n < offset+count:
				page = append(page, rid)
			case n == offset+count:
				more = true
			}
			total++
			continue
		}
		if len(all) == MaxSortInGo {
			return nil, 0, false, fmt.Errorf("search: more than %d matches to sort: %w", MaxSortInGo, store.ErrTooCostly)
		}
		k := keyed{rid: rid, keys: make([]driver.Value, len(sorts))}
		for i, s := range sorts {
			switch s.Param {
			case store.SortID:
				k.keys[i] = id
			case store.SortLastUpdated:
				k.keys[i] = updated
			default:
				v, err := c.sortValue([]driver.Value{ix, owner, typ, id}, ixf, pids[i], tables[i])
				if err != nil {
					return nil, 0, false, fmt.Errorf("search: sort key: %w", err)
				}
				k.keys[i] = v
			}
		}
		all = append(all, k)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, fmt.Errorf("search: %w", err)
	}
	if !byParam {
		return page, total, more, nil
	}
	slices.SortFunc(all, func(a, b keyed) int {
		for i, s := range sorts {
			x, y := a.keys[i], b.keys[i]
			switch {
			case x == nil && y == nil:
				continue
			case x == nil:
				return 1 // NULLS LAST, either direction
			case y == nil:
				return -1
			}
			r := compareValues(x, y)
			if s.Desc {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.rid, b.rid)
	})
	for k := min(offset, len(all)); k < len(all) && k < offset+count; k++ {
		page = append(page, all[k].rid)
	}
	return page, len(all), offset+count < len(all), nil
}

// compareValues compares two sort keys of one kind.
func compareValues(x, y driver.Value) int {
	switch a := x.(type) {
	case string:
		return strings.Compare(a, y.(string))
	case int64:
		return cmp.Compare(a, y.(int64))
	case float64:
		return cmp.Compare(a, y.(float64))
	}
	return 0
}

// Limits of the work PostgreSQL's searches do in Go (SQLite does the same
// work inside the query, a candidate at a time): the candidates a
// condition on key lists checks (resolveClause), and the matches a sort by
// a search parameter orders (goPage). Beyond them a search fails with
// store.ErrTooCostly instead of holding memory and decrypting without
// bound.
const (
	MaxCandidates = 50000
	MaxSortInGo   = 20000
)
