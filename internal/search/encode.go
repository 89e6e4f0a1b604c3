package search

import "github.com/hestiahealth/hestia/internal/store"

// Encoder is the index-value encoder: the one place every index row passes
// through before it is written, and every query condition before it is
// evaluated, so that what the store holds and what a query compares are
// always encoded the same way. A blind-index encoder (keyed HMACs of
// tokens, strings and URIs) replaces the values; Plain keeps them.
type Encoder interface {
	// EncodeIndex rewrites the rows of x in place.
	EncodeIndex(x *store.Index) error
	// EncodeCond returns the condition to evaluate in place of c. It is
	// called for every leaf condition (not for Not, Chain, Has or Composite,
	// whose parts are encoded one by one).
	EncodeCond(c store.Cond) (store.Cond, error)
}

// Plain stores index values as extracted.
type Plain struct{}

// EncodeIndex implements Encoder.
func (Plain) EncodeIndex(*store.Index) error { return nil }

// EncodeCond implements Encoder.
func (Plain) EncodeCond(c store.Cond) (store.Cond, error) { return c, nil }

var _ Encoder = Plain{}
