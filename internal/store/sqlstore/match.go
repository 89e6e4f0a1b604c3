package sqlstore

import (
	"bytes"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hestiahealth/hestia/internal/store"
)

// A search is driven by its most selective condition, evaluated on the
// index tables; the other conditions are then checked on each candidate's
// own row keys (resource.ix) by the SQL function hestia_match, instead of
// scanning every index row of their parameters. "Observation?patient=X&
// date=ge2010" thus reads the patient's few hundred resources, not the
// tens of thousands of dates of every patient.
//
// hestia_match(ix, owner, type, id, matcher, ixf) evaluates the matcher
// registered under id for one query; the builder registers it and the
// search removes it afterwards. A matcher whose conditions need no values
// behind blind-index forms reads the unsealed forms list (ixf) when the
// resource has one, and opens the sealed key list (ix) otherwise.

// candidateRows decodes a candidate's index rows from the arguments (ix,
// owner, type, id) of the SQL functions, which the query passes from the
// resource row, and ixf, its forms list: the forms list alone when forms
// suffice and the resource has one, the whole key list (opened) otherwise.
func candidateRows(c *Core, args []driver.Value, ixf driver.Value, forms bool, buf []row) ([]row, error) {
	formList, _ := ixf.([]byte)
	if forms && len(formList) > 0 {
		return decodeRows(formList, buf)
	}
	var sealed []byte
	switch v := args[0].(type) {
	case []byte:
		sealed = v
	case nil: // a resource without index rows
	default:
		return nil, ErrRowKeys
	}
	owner, _ := args[1].(string)
	typ, _ := args[2].(string)
	id, _ := args[3].(string)
	keys, err := c.KeyList(owner, typ, id, sealed, formList)
	if err != nil {
		return nil, err
	}
	return decodeRows(keys, buf)
}

var (
	matchers  sync.Map // int64 -> *matcher
	matcherID atomic.Int64
)

func registerMatcher(m *matcher) int64 {
	id := matcherID.Add(1)
	matchers.Store(id, m)
	return id
}

func unregisterMatchers(ids []int64) {
	for _, id := range ids {
		matchers.Delete(id)
	}
}

var errNoMatcher = errors.New("hestia_match: unknown matcher or database")

// MatchFunc implements hestia_match(ix, owner, type, id, matcher, ixf),
// which the SQLite driver registers.
func MatchFunc(args []driver.Value) (driver.Value, error) {
	id, _ := args[4].(int64)
	m, ok := matchers.Load(id)
	if !ok {
		return nil, errNoMatcher
	}
	mm := m.(*matcher)
	buf := rowPool.Get().(*[]row)
	defer rowPool.Put(buf)
	rows, err := candidateRows(mm.c, args, args[5], mm.forms, (*buf)[:0])
	*buf = rows
	if err != nil {
		return nil, err
	}
	if mm.match(rows) {
		return int64(1), nil
	}
	return int64(0), nil
}

var rowPool = sync.Pool{New: func() any { b := make([]row, 0, 32); return &b }}

// matcher is a clause (an OR of conditions) compiled for evaluation on a
// resource's rows. A forms matcher compares index forms, not values, and
// so can be evaluated on the forms list.
type matcher struct {
	c     *Core
	any   []predicate
	forms bool
}

func (m *matcher) match(rows []row) bool {
	for _, p := range m.any {
		if p(rows) {
			return true
		}
	}
	return false
}

// predicate holds for a resource's rows.
type predicate func(rows []row) bool

// rowTest tests one row.
type rowTest func(x *row) bool

func anyRow(table int, pid int64, test rowTest) predicate {
	return func(rows []row) bool {
		for i := range rows {
			x := &rows[i]
			if x.table == table && x.pid == pid && test(x) {
				return true
			}
		}
		return false
	}
}

// compileMatcher compiles a clause; it reports false when a condition
// cannot be evaluated on row keys (chains, _has, ids), which then stay SQL.
// It compiles a forms matcher when every condition can be decided on index
// forms (see compileRowTest).
func (b *builder) compileMatcher(c store.Clause) (*matcher, bool) {
	for _, forms := range []bool{true, false} {
		m := &matcher{c: b.c, forms: forms}
		ok := true
		for _, cond := range c {
			p, pok := b.compilePredicate(cond, forms)
			if !pok {
				ok = false
				break
			}
			m.any = append(m.any, p)
		}
		if ok {
			return m, true
		}
	}
	return nil, false
}

func (b *builder) compilePredicate(c store.Cond, forms bool) (predicate, bool) {
	switch c := c.(type) {
	case store.NotCond:
		inner, ok := b.compilePredicate(c.Cond, forms)
		if !ok {
			return nil, false
		}
		return func(rows []row) bool { return !inner(rows) }, true
	case store.MissingCond:
		table := kindIndex(c.Kind)
		if table < 0 {
			return nil, false
		}
		pid := b.pid(c.Param)
		present := anyRow(table, pid, func(*row) bool { return true })
		if c.Missing {
			return func(rows []row) bool { return !present(rows) }, true
		}
		return present, true
	case store.CompositeCond:
		type part struct {
			table int
			pid   int64
			test  rowTest
		}
		var parts []part
		for _, pc := range c.Parts {
			table, pid, test, ok := b.compileRowTest(pc, forms)
			if !ok {
				return nil, false
			}
			parts = append(parts, part{table, pid, test})
		}
		return func(rows []row) bool {
			// Some group must satisfy every part.
			for i := range rows {
				first := &rows[i]
				if len(parts) == 0 || first.table != parts[0].table || first.pid != parts[0].pid || !parts[0].test(first) {
					continue
				}
				all := true
				for _, p := range parts[1:] {
					found := false
					for j := range rows {
						x := &rows[j]
						if x.grp == first.grp && x.table == p.table && x.pid == p.pid && p.test(x) {
							found = true
							break
						}
					}
					if !found {
						all = false
						break
					}
				}
				if all {
					return true
				}
			}
			return false
		}, len(parts) > 0
	}
	table, pid, test, ok := b.compileRowTest(c, forms)
	if !ok {
		return nil, false
	}
	return anyRow(table, pid, test), true
}

// inForms reports whether f is one of forms.
func inForms(f []byte, forms []string) bool {
	for _, x := range forms {
		if string(f) == x {
			return true
		}
	}
	return false
}

// compileRowTest mirrors rowPredicate: the same comparisons, on a decoded
// row instead of an index table row. With forms, strings, tokens and uris
// are compared by their index forms, as the index tables compare them, so
// the test holds on the forms list; it reports false for a condition that
// needs values (a string prefix or :contains, uri :above/:below) or whose
// forms are not set.
func (b *builder) compileRowTest(c store.Cond, forms bool) (table int, pid int64, test rowTest, ok bool) {
	if forms {
		switch c := c.(type) {
		case store.StringCond:
			if c.Match != store.StringExact || len(c.Ix) == 0 {
				return 0, 0, nil, false
			}
			ix := c.Ix
			return tString, b.pid(c.Param), func(x *row) bool { return inForms(x.ix2, ix) }, true
		case store.TokenCond:
			if (c.Code != "" && len(c.IxCode) == 0) || (c.System != nil && len(c.IxSystem) == 0) {
				return 0, 0, nil, false
			}
			codes, systems := c.IxCode, c.IxSystem
			anyCode, anySystem := c.Code == "", c.System == nil
			return tToken, b.pid(c.Param), func(x *row) bool {
				return (anyCode || inForms(x.ix1, codes)) && (anySystem || inForms(x.ix2, systems))
			}, true
		case store.URICond:
			if c.Match != store.URIEqual || len(c.Ix) == 0 {
				return 0, 0, nil, false
			}
			ix := c.Ix
			return tURI, b.pid(c.Param), func(x *row) bool { return inForms(x.ix1, ix) }, true
		}
		// References, dates, numbers and quantities are in the forms list
		// as they are.
	}
	switch c := c.(type) {
	case store.StringCond:
		pid = b.pid(c.Param)
		v, bv := c.Value, []byte(c.Value)
		switch c.Match {
		case store.StringPrefix:
			return tString, pid, func(x *row) bool { return bytes.HasPrefix(x.s1, bv) }, true
		case store.StringExact:
			return tString, pid, func(x *row) bool { return string(x.s2) == v }, true
		case store.StringContains:
			return tString, pid, func(x *row) bool { return bytes.Contains(x.s1, bv) }, true
		}
	case store.TokenCond:
		pid = b.pid(c.Param)
		code, sys := c.Code, c.System
		return tToken, pid, func(x *row) bool {
			return (code == "" || string(x.s1) == code) && (sys == nil || string(x.s2) == *sys)
		}, true
	case store.RefCond:
		pid = b.pid(c.Param)
		if c.URL != "" {
			u := c.URL
			return tRef, pid, func(x *row) bool { return string(x.s3) == u }, true
		}
		id, typ := c.ID, c.Type
		return tRef, pid, func(x *row) bool { return string(x.s1) == id && (typ == "" || string(x.s2) == typ) }, true
	case store.DateCond:
		pid = b.pid(c.Param)
		t, ok := rangeTest(c.Prefix, c.Lo, c.Hi)
		return tDate, pid, func(x *row) bool { return t(x.i1, x.i2) }, ok
	case store.NumberCond:
		pid = b.pid(c.Param)
		t, ok := numberTest(c)
		return tNumber, pid, func(x *row) bool { return t(x.f1, x.f2) }, ok
	case store.QuantityCond:
		pid = b.pid(c.Param)
		t, ok := numberTest(c.NumberCond)
		sys, code := c.System, c.Code
		return tQuantity, pid, func(x *row) bool {
			if !t(x.f1, x.f2) {
				return false
			}
			switch {
			case sys != "":
				return string(x.s2) == sys && string(x.s1) == code
			case code != "":
				return string(x.s1) == code || string(x.s3) == code
			}
			return true
		}, ok
	case store.URICond:
		pid = b.pid(c.Param)
		v, bv := c.Value, []byte(c.Value)
		switch c.Match {
		case store.URIEqual:
			return tURI, pid, func(x *row) bool { return string(x.s1) == v }, true
		case store.URIBelow:
			return tURI, pid, func(x *row) bool { return bytes.HasPrefix(x.s1, bv) }, true
		case store.URIAbove:
			return tURI, pid, func(x *row) bool { return strings.HasPrefix(v, string(x.s1)) }, true
		}
	}
	return 0, 0, nil, false
}

// rangeTest mirrors rangePredicate.
func rangeTest(p store.Prefix, L, H int64) (func(lo, hi int64) bool, bool) {
	in := func(lo, hi int64) bool { return lo >= L && hi <= H }
	switch p {
	case store.Eq:
		return in, true
	case store.Ne:
		return func(lo, hi int64) bool { return !in(lo, hi) }, true
	case store.Gt:
		return func(_, hi int64) bool { return hi > H }, true
	case store.Lt:
		return func(lo, _ int64) bool { return lo < L }, true
	case store.Ge:
		return func(lo, hi int64) bool { return hi > H || in(lo, hi) }, true
	case store.Le:
		return func(lo, hi int64) bool { return lo < L || in(lo, hi) }, true
	case store.Sa:
		return func(lo, _ int64) bool { return lo > H }, true
	case store.Eb:
		return func(_, hi int64) bool { return hi < L }, true
	case store.Ap:
		return func(lo, hi int64) bool { return lo <= H && hi >= L }, true
	}
	return nil, false
}

// numberTest mirrors numberPredicate.
func numberTest(c store.NumberCond) (func(lo, hi float64) bool, bool) {
	v, L, H := c.Value, c.Lo, c.Hi
	switch c.Prefix {
	case store.Eq:
		return func(lo, hi float64) bool { return lo >= L && hi < H }, true
	case store.Ne:
		return func(lo, hi float64) bool { return !(lo >= L && hi < H) }, true
	case store.Gt:
		return func(_, hi float64) bool { return hi > v }, true
	case store.Lt:
		return func(lo, _ float64) bool { return lo < v }, true
	case store.Ge:
		return func(_, hi float64) bool { return hi >= v }, true
	case store.Le:
		return func(lo, _ float64) bool { return lo <= v }, true
	case store.Sa:
		return func(lo, _ float64) bool { return lo >= H }, true
	case store.Eb:
		return func(_, hi float64) bool { return hi <= L }, true
	case store.Ap:
		return func(lo, hi float64) bool { return lo <= H && hi >= L }, true
	}
	return nil, false
}

func kindIndex(k store.Kind) int {
	switch k {
	case store.KindString:
		return tString
	case store.KindToken:
		return tToken
	case store.KindReference:
		return tRef
	case store.KindDate:
		return tDate
	case store.KindNumber:
		return tNumber
	case store.KindQuantity:
		return tQuantity
	case store.KindURI:
		return tURI
	}
	return -1
}

// SortKeyFunc implements hestia_sortkey(ix, owner, type, id, db, pid,
// table, ixf): the sort key of a resource for one parameter, from its own
// row keys: the smallest value ascending, the largest descending (table
// -t-1 for table t; ranges sort by their low end ascending and their high
// end descending); NULL when it has none. db names the open database
// (dbs). Dates, numbers, quantities and references come from the forms
// list when the resource has one.
//
// The SQLite driver registers it.
func SortKeyFunc(args []driver.Value) (driver.Value, error) {
	dbID, _ := args[4].(int64)
	pid, _ := args[5].(int64)
	table, _ := args[6].(int64)
	d, ok := cores.Load(dbID)
	if !ok {
		return nil, errNoMatcher
	}
	return d.(*Core).sortValue(args, args[7], pid, table)
}

// sortValue is the sort key of one resource (args as for SortKeyFunc: ix,
// owner, type, id; ixf) for parameter pid of table (-t-1 descending).
func (c *Core) sortValue(args []driver.Value, ixf driver.Value, pid, table int64) (driver.Value, error) {
	desc := int64(0)
	if table < 0 {
		table, desc = -table-1, 1
	}
	buf := rowPool.Get().(*[]row)
	defer rowPool.Put(buf)
	// Dates, numbers, quantities and references are in the forms list.
	forms := table == tDate || table == tNumber || table == tQuantity || table == tRef
	rows, err := candidateRows(c, args, ixf, forms, (*buf)[:0])
	*buf = rows
	if err != nil {
		return nil, err
	}
	var best driver.Value
	better := func(v driver.Value) bool {
		if best == nil {
			return true
		}
		switch x := v.(type) {
		case string:
			if desc != 0 {
				return x > best.(string)
			}
			return x < best.(string)
		case int64:
			if desc != 0 {
				return x > best.(int64)
			}
			return x < best.(int64)
		case float64:
			if desc != 0 {
				return x > best.(float64)
			}
			return x < best.(float64)
		}
		return false
	}
	for i := range rows {
		x := &rows[i]
		if int64(x.table) != table || x.pid != pid || x.grp != 0 {
			continue
		}
		var v driver.Value
		switch x.table {
		case tString, tToken, tRef, tURI:
			v = string(x.s1)
		case tDate:
			v = x.i1
			if desc != 0 {
				v = x.i2
			}
		case tNumber, tQuantity:
			f := x.f1
			if desc != 0 {
				f = x.f2
			}
			v = f
		}
		if better(v) {
			best = v
		}
	}
	return best, nil
}
