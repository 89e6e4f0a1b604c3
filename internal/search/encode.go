package search

import (
	"unicode/utf8"

	"github.com/hestiahealth/hestia/internal/store"
)

// Encoder is the index-value encoder: the one place every index row passes
// through before it is written, and every query condition before it is
// evaluated. It gives string, token and URI values their index form (the
// Ix fields of the store's rows and conditions), so that what the index
// tables hold and what a query looks up are always encoded the same way.
type Encoder interface {
	// EncodeIndex sets the index forms of the rows of x.
	EncodeIndex(x *store.Index) error
	// EncodeCond returns c with its index forms set. It is called for every
	// leaf condition (not for Not, Chain, Has or Composite, whose parts are
	// encoded one by one).
	EncodeCond(c store.Cond) (store.Cond, error)
}

// PrefixLen is the number of characters of a normalised string that its
// index form covers. A default (starts-with) string search of at least that
// many characters looks up the index form of its first PrefixLen characters
// and checks each candidate; a shorter one checks every resource of the
// type.
const PrefixLen = 4

// Fields of an index form, for domain separation.
const (
	fieldPrefix = "p"
	fieldExact  = "e"
	fieldCode   = "c"
	fieldSystem = "s"
	fieldURI    = "u"
)

// Keyed encodes index forms with a function of (parameter key, field,
// value): the identity for Plain, a keyed PRF for blind indexes.
type Keyed struct {
	Form func(param, field, value string) (string, error)
}

// Plain stores index forms in the clear (prefix buckets as they are). It
// exists for tests and the benchmark-only plaintext build.
var Plain Encoder = Keyed{Form: func(_, _, v string) (string, error) { return v, nil }}

// prefixOf returns the first PrefixLen characters of s, and whether s has
// that many.
func prefixOf(s string) (string, bool) {
	n, i := 0, 0
	for i < len(s) && n < PrefixLen {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i], n == PrefixLen
}

// EncodeIndex implements Encoder.
func (k Keyed) EncodeIndex(x *store.Index) error {
	var err error
	set := func(dst *string, param, field, v string) {
		if err == nil {
			*dst, err = k.Form(param, field, v)
		}
	}
	for i := range x.Strings {
		r := &x.Strings[i]
		p, _ := prefixOf(r.Norm)
		set(&r.IxNorm, r.Param, fieldPrefix, p)
		set(&r.IxExact, r.Param, fieldExact, r.Exact)
	}
	for i := range x.Tokens {
		r := &x.Tokens[i]
		set(&r.IxCode, r.Param, fieldCode, r.Code)
		set(&r.IxSystem, r.Param, fieldSystem, r.System)
	}
	for i := range x.URIs {
		r := &x.URIs[i]
		set(&r.IxURI, r.Param, fieldURI, r.URI)
	}
	return err
}

// EncodeCond implements Encoder.
func (k Keyed) EncodeCond(c store.Cond) (store.Cond, error) {
	var err error
	switch c := c.(type) {
	case store.StringCond:
		switch c.Match {
		case store.StringPrefix:
			if p, full := prefixOf(c.Value); full {
				c.Ix, err = k.Form(c.Param, fieldPrefix, p)
			}
		case store.StringExact:
			c.Ix, err = k.Form(c.Param, fieldExact, c.Value)
		}
		return c, err
	case store.TokenCond:
		if c.Code != "" {
			if c.IxCode, err = k.Form(c.Param, fieldCode, c.Code); err != nil {
				return nil, err
			}
		}
		if c.System != nil {
			s, err := k.Form(c.Param, fieldSystem, *c.System)
			if err != nil {
				return nil, err
			}
			c.IxSystem = &s
		}
		return c, nil
	case store.URICond:
		if c.Match == store.URIEqual {
			c.Ix, err = k.Form(c.Param, fieldURI, c.Value)
		}
		return c, err
	}
	return c, nil
}

var _ Encoder = Keyed{}
