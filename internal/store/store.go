// Package store is the contract between Hestia's FHIR engine and a storage
// driver (store/sqlite, store/postgres). It knows nothing of HTTP, tokens or
// roles: it keeps resource versions and their search index, and answers
// queries expressed in this package's Query model.
//
// Invariants every driver MUST keep:
//   - A resource (Type, ID) has versions 1..n with no gaps; each stored
//     version is immutable once committed.
//   - A write (Tx.Put) commits together with every other Put of the same
//     Update call, or not at all.
//   - The search index of a resource always describes its current,
//     not-deleted version; a deleted resource has no index rows.
//   - Index values are persisted exactly as given: the caller passes them
//     through its index-value encoder first (see Index).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors a driver returns. Callers test them with errors.Is.
var (
	ErrNotFound = errors.New("resource not found")
	// ErrConflict means a Put's expected version did not match the stored one.
	ErrConflict = errors.New("version conflict")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store closed")
	// ErrTooCostly means a query would have the driver check or sort more
	// candidates one by one than it allows (see the driver's limits).
	ErrTooCostly = errors.New("query too costly")
	// ErrInvalidText means a value the index keeps as text cannot be
	// stored or compared by the database (a NUL character, or invalid
	// UTF-8, which PostgreSQL's text refuses).
	ErrInvalidText = errors.New("text the database cannot hold")
)

// Method is the interaction that produced a version.
type Method uint8

const (
	MethodCreate Method = iota + 1
	MethodUpdate
	MethodDelete
)

func (m Method) String() string {
	switch m {
	case MethodCreate:
		return "POST"
	case MethodUpdate:
		return "PUT"
	case MethodDelete:
		return "DELETE"
	}
	return "?"
}

// Resource is one stored version of a resource.
type Resource struct {
	Type    string
	ID      string
	Version int64
	Updated time.Time // UTC, microsecond precision
	Method  Method
	Deleted bool   // a delete marker; Body is nil
	Body    []byte // the resource as stored (sealed by the caller)
	Owner   string // whose key sealed Body and the row keys ("" for the tenant)
}

// Write is one new version to store.
type Write struct {
	Type    string
	ID      string
	Version int64 // MUST be the current version + 1, or 1 for a resource that does not exist
	Updated time.Time
	Method  Method
	Deleted bool
	Body    []byte // nil for a delete
	Index   *Index // index rows of this version; ignored (and cleared) for a delete
	// Owner names the key the caller sealed Body with (a patient id, or ""
	// for the tenant); the driver seals the row keys with the same owner.
	Owner string
}

// Store is what the engine needs from a driver. Every method MUST be safe
// for concurrent use.
type Store interface {
	// Read returns the current version of a resource, including a delete
	// marker (Deleted=true). It returns ErrNotFound if the resource never existed.
	Read(ctx context.Context, typ, id string) (*Resource, error)
	// ReadVersion returns one version, or ErrNotFound.
	ReadVersion(ctx context.Context, typ, id string, version int64) (*Resource, error)
	// History lists versions, newest first.
	History(ctx context.Context, q *HistoryQuery) (*HistoryPage, error)
	// Search evaluates a query against the current, not-deleted resources.
	Search(ctx context.Context, q *Query) (*SearchResult, error)
	// ReadMany returns the current versions of the given resources (deleted
	// or missing ones are left out), in no particular order.
	ReadMany(ctx context.Context, refs []Ref) ([]*Resource, error)
	// Update runs fn in one write transaction. If fn returns an error, none of
	// its writes are kept and Update returns that error. Update MUST NOT
	// return before the transaction is durably committed (or has failed).
	// fn may be called again if the driver retries a batch; it MUST be
	// free of side effects outside tx.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// EraseOwner removes what a patient's erasure removes from the store:
	// the index rows of every resource the patient owns (whose key lists it
	// opens before anything else), which it marks deleted, and the bodies
	// of every version sealed under the patient's key. Afterwards the freed
	// space MUST hold none of it (zeroed pages, no copy in a journal). It
	// returns the number of resources and versions affected. If audit is
	// not nil, it is called inside the erasure's transaction with those
	// numbers and the record it returns is appended in that transaction:
	// the erasure and its audit record commit together (an error from it
	// fails the erasure).
	EraseOwner(ctx context.Context, owner string, audit func(resources, versions int) ([]byte, error)) (resources, versions int, err error)
	// Close releases the driver's resources.
	Close() error
}

// Tx is the view of a write transaction. Reads see the transaction's own
// writes.
type Tx interface {
	Read(typ, id string) (*Resource, error)
	Search(q *Query) (*SearchResult, error)
	// Put stores a new version. It returns ErrConflict when w.Version is not
	// the current version + 1.
	Put(w *Write) error
	// AppendAudit appends a record (sealed by the caller) to the audit log
	// in this transaction: it commits with the transaction's writes, or
	// not at all.
	AppendAudit(record []byte)
}

// Ref names a resource.
type Ref struct {
	Type string
	ID   string
}

func (r Ref) String() string { return r.Type + "/" + r.ID }

// HistoryQuery selects versions for the history interaction. Type and ID
// are optional: both empty = system history, Type only = type history.
type HistoryQuery struct {
	Type   string
	ID     string
	Since  time.Time // versions updated at or after, when not zero
	At     time.Time // versions current at this instant, when not zero
	Count  int
	Offset int
	// Before restricts to versions with a sequence number at most this, so
	// that paging is stable while new versions are written. Zero: no limit;
	// HistoryPage.Snapshot reports the value to reuse for the next pages.
	Before int64
}

// HistoryPage is a page of history.
type HistoryPage struct {
	Versions []*Resource
	Total    int
	Snapshot int64
}
