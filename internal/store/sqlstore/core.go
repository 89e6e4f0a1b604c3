// Package sqlstore is the SQL that Hestia's storage drivers (store/sqlite,
// store/postgres) share: the schema of resources, versions and index
// tables, the search query builder, row key lists, reads, history and the
// writes of a transaction. A driver owns its connections, transactions and
// migrations and hands this package a Querier (or an open *sql.Tx) to run
// on.
//
// Invariants:
//   - All SQL is parameterized; values never become SQL text. Statements
//     are written with ? placeholders; the Postgres dialect rewrites them
//     to $n before they reach the database.
//   - Index forms (blind-index HMACs) are compared as bytes: TEXT in
//     SQLite, bytea in PostgreSQL (Dialect.form).
//   - The values behind blind-index forms are only ever read from a
//     resource's sealed key list, opened by the Core's KeyCipher; never
//     from the index tables, which do not hold them.
package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dialect names the SQL flavour of a driver.
type Dialect uint8

const (
	// SQLite runs Go inside queries (hestia_match, hestia_sortkey):
	// conditions that need a resource's key list are checked in SQL.
	SQLite Dialect = iota
	// Postgres cannot call back into Go: such conditions are resolved
	// before the query (see resolveClause) and such sort keys computed
	// after it (see sortInGo).
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// form is how an index form (a string of arbitrary bytes) is passed as an
// argument.
func (d Dialect) form(s string) any {
	if d == Postgres {
		return []byte(s)
	}
	return s
}

// forUpdate is the clause that locks the rows a SELECT reads until the
// transaction ends: PostgreSQL's FOR UPDATE; nothing on SQLite, whose one
// writer runs alone.
func (d Dialect) forUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// KeyCipher seals the key lists of resources (resource.ix), which hold
// search values in the clear. internal/crypt implements it with the
// owner's data key; ref ("Type/id") binds a list to its resource. Nil keeps
// them unsealed (tests, and the benchmark-only plaintext build).
type KeyCipher interface {
	SealKeys(owner, ref string, plain []byte) ([]byte, error)
	OpenKeys(owner, ref string, sealed []byte) ([]byte, error)
}

// Querier is what a connection pool and a transaction both offer.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Core is one open database as the shared SQL sees it: its dialect, the
// cipher of its key lists and its cache of parameter ids.
type Core struct {
	dialect Dialect
	cipher  KeyCipher
	params  *paramCache
	id      int64 // in cores, for the SQLite functions
	rebinds sync.Map
	nrebind atomic.Int32
}

var (
	cores  sync.Map // int64 -> *Core
	coreID int64
	coreMu sync.Mutex
)

// NewCore returns the Core of a database of dialect d. Close releases it.
func NewCore(d Dialect) *Core {
	coreMu.Lock()
	coreID++
	c := &Core{dialect: d, params: newParamCache(), id: coreID}
	coreMu.Unlock()
	cores.Store(c.id, c)
	return c
}

// Close forgets the Core (its SQL functions stop finding it).
func (c *Core) Close() { cores.Delete(c.id) }

// Dialect returns the Core's dialect.
func (c *Core) Dialect() Dialect { return c.dialect }

// SetCipher sets the KeyCipher that seals key lists. It must be called
// before the first write or search.
func (c *Core) SetCipher(k KeyCipher) { c.cipher = k }

// Cipher returns the KeyCipher (nil: key lists are not sealed).
func (c *Core) Cipher() KeyCipher { return c.cipher }

// LoadParams fills the parameter cache from the database.
func (c *Core) LoadParams(ctx context.Context, q Querier) error {
	return c.params.load(ctx, c.wrap(q))
}

// wrap returns q, rewriting placeholders for the dialect.
func (c *Core) wrap(q Querier) Querier {
	if c.dialect != Postgres {
		return q
	}
	if r, ok := q.(rebinder); ok {
		return r
	}
	return rebinder{q: q, c: c}
}

// Rebind rewrites the ? placeholders of query for the dialect ($1, $2, …
// for PostgreSQL). The shared SQL never has a ? inside a literal.
func (c *Core) Rebind(query string) string {
	if c.dialect != Postgres {
		return query
	}
	if s, ok := c.rebinds.Load(query); ok {
		return s.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	s := b.String()
	// Search SQL has a bounded number of shapes (values are parameters);
	// the caps guard memory against anything else.
	if len(query) < 8192 && c.nrebind.Load() < maxRebinds {
		if _, loaded := c.rebinds.LoadOrStore(query, s); !loaded {
			c.nrebind.Add(1)
		}
	}
	return s
}

// maxRebinds caps the statements whose rewriting is kept.
const maxRebinds = 4096

type rebinder struct {
	q Querier
	c *Core
}

func (r rebinder) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.c.Rebind(query), args...)
}

func (r rebinder) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.c.Rebind(query), args...)
}

// Seal seals a key list with the configured cipher (an empty list stays
// empty: it holds nothing).
func (c *Core) Seal(owner, typ, id string, keys []byte) ([]byte, error) {
	if c.cipher == nil || len(keys) == 0 {
		return keys, nil
	}
	return c.cipher.SealKeys(owner, typ+"/"+id, keys)
}

// Open opens a key list sealed by Seal.
func (c *Core) Open(owner, typ, id string, sealed []byte) ([]byte, error) {
	if c.cipher == nil || len(sealed) == 0 {
		return sealed, nil
	}
	return c.cipher.OpenKeys(owner, typ+"/"+id, sealed)
}

// KeyList returns the whole key list of a resource from its columns ix
// and ixf (see rowkeys.go): ix opened, and merged with ixf if there is one.
func (c *Core) KeyList(owner, typ, id string, ix, ixf []byte) ([]byte, error) {
	plain, err := c.Open(owner, typ, id, ix)
	if err != nil || len(ixf) == 0 {
		return plain, err
	}
	return MergeKeys(ixf, plain)
}

// NilIfEmpty stores an empty list as NULL: a resource without index rows,
// without values behind forms, or (forms) a build whose key lists are not
// sealed.
func NilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Micros is how instants are stored: microseconds since the Unix epoch.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros reads an instant stored by Micros, in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
