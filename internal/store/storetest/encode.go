package storetest

import (
	"unicode/utf8"

	"github.com/hestiahealth/hestia/internal/store"
)

// The suite gives every row and condition index forms that differ from
// their values (as a blind-index encoder would), so a driver that compares
// values where it should compare index forms, or the reverse, fails it.
// Conditions carry a second, decoy form first (as during a rotation of the
// blind-index key, when a lookup tries the forms under both keys), so a
// driver that looks up only one of them fails it too.

// forms is what a lookup of the index form f tries.
func forms(f string) []string { return []string{"old:" + f, f} }

const bucketRunes = 4

func bucket(norm string) string {
	n, i := 0, 0
	for i < len(norm) && n < bucketRunes {
		_, size := utf8.DecodeRuneInString(norm[i:])
		i += size
		n++
	}
	return "b:" + norm[:i]
}

func encodeIndex(x *store.Index) {
	if x == nil {
		return
	}
	for i := range x.Strings {
		r := &x.Strings[i]
		r.IxNorm, r.IxExact = bucket(r.Norm), "e:"+r.Exact
	}
	for i := range x.Tokens {
		r := &x.Tokens[i]
		r.IxCode, r.IxSystem = "c:"+r.Code, "s:"+r.System
	}
	for i := range x.URIs {
		r := &x.URIs[i]
		r.IxURI = "u:" + r.URI
	}
}

func encodeQuery(q *store.Query) {
	q.Where = encodeWhere(q.Where)
}

func encodeWhere(where []store.Clause) []store.Clause {
	out := make([]store.Clause, len(where))
	for i, c := range where {
		out[i] = make(store.Clause, len(c))
		for j, cond := range c {
			out[i][j] = encodeCond(cond)
		}
	}
	return out
}

func encodeCond(c store.Cond) store.Cond {
	switch c := c.(type) {
	case store.StringCond:
		switch c.Match {
		case store.StringPrefix:
			if utf8.RuneCountInString(c.Value) >= bucketRunes {
				c.Ix = forms(bucket(c.Value))
			}
		case store.StringExact:
			c.Ix = forms("e:" + c.Value)
		}
		return c
	case store.TokenCond:
		c.IxCode = forms("c:" + c.Code)
		if c.System != nil {
			c.IxSystem = forms("s:" + *c.System)
		}
		return c
	case store.URICond:
		if c.Match == store.URIEqual {
			c.Ix = forms("u:" + c.Value)
		}
		return c
	case store.NotCond:
		return store.NotCond{Cond: encodeCond(c.Cond)}
	case store.ChainCond:
		c.Where = encodeWhere(c.Where)
		return c
	case store.HasCond:
		c.Where = encodeWhere(c.Where)
		return c
	case store.CompositeCond:
		parts := make([]store.Cond, len(c.Parts))
		for i, p := range c.Parts {
			parts[i] = encodeCond(p)
		}
		c.Parts = parts
		return c
	}
	return c
}
