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
// type. Three characters serve the searches a patient picker sends ("smi")
// from the index, and a shorter prefix puts more values in one bucket, so
// equal forms say less about equal names (docs/design/encryption.md).
//
// Stored rows record the length they were written with; a database
// written with another length is re-indexed when it is opened.
const PrefixLen = 3

// Fields of an index form, for domain separation.
const (
	fieldPrefix = "p"
	fieldExact  = "e"
	fieldCode   = "c"
	fieldSystem = "s"
	fieldURI    = "u"
)

// Keyed encodes index forms with a function of (parameter key, field,
// value): the identity for Plain, a keyed PRF for blind indexes. Form gives
// the form rows are written with; Forms, if set, every form a lookup must
// try (while the blind-index key rotates, rows written under the old key
// and under the new one coexist), Form's first.
type Keyed struct {
	Form  func(param, field, value string) (string, error)
	Forms func(param, field, value string) ([]string, error)
}

func (k Keyed) lookup(param, field, value string) ([]string, error) {
	if k.Forms != nil {
		return k.Forms(param, field, value)
	}
	f, err := k.Form(param, field, value)
	if err != nil {
		return nil, err
	}
	return []string{f}, nil
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
				c.Ix, err = k.lookup(c.Param, fieldPrefix, p)
			}
		case store.StringExact:
			c.Ix, err = k.lookup(c.Param, fieldExact, c.Value)
		}
		return c, err
	case store.TokenCond:
		if c.Code != "" {
			if c.IxCode, err = k.lookup(c.Param, fieldCode, c.Code); err != nil {
				return nil, err
			}
		}
		if c.System != nil {
			if c.IxSystem, err = k.lookup(c.Param, fieldSystem, *c.System); err != nil {
				return nil, err
			}
		}
		return c, nil
	case store.URICond:
		if c.Match == store.URIEqual {
			c.Ix, err = k.lookup(c.Param, fieldURI, c.Value)
		}
		return c, err
	}
	return c, nil
}

var _ Encoder = Keyed{}
