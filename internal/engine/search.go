package engine

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
)

// SearchOptions continue a search from a page cursor.
type SearchOptions struct {
	Lenient  bool
	Offset   int   // from a paging cursor; overrides _offset
	Snapshot int64 // from a paging cursor
}

// SearchPage is one page of search results.
type SearchPage struct {
	Search *search.Search
	Result *store.SearchResult
	Offset int
}

// Search runs a type-level search.
func (e *Engine) Search(ctx context.Context, typ string, params url.Values, opt SearchOptions) (*SearchPage, error) {
	if err := checkTypeID(typ, ""); err != nil {
		return nil, err
	}
	ev, err := e.begin(ctx, access.SearchType, typ, "")
	if err != nil {
		return nil, err
	}
	ev.Query = params.Encode()
	s, err := e.reg.Parse(typ, params, search.Options{Lenient: opt.Lenient, Encoder: e.enc, Now: e.now()})
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	// What _include and _revinclude add, and the types chains and _has
	// search through, are searched too.
	for _, inc := range s.Query.Include {
		for _, t := range []string{inc.TargetType, inc.SourceType} {
			if t != "" && t != typ {
				if err := e.authorize(ctx, access.SearchType, t, ""); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, inc := range s.Query.RevInclude {
		if err := e.authorize(ctx, access.SearchType, inc.SourceType, ""); err != nil {
			return nil, err
		}
	}
	if err := e.authorizeWhere(ctx, s.Query.Where); err != nil {
		return nil, err
	}
	q := s.Query
	if opt.Offset > 0 {
		q.Offset = opt.Offset
	}
	q.Snapshot = opt.Snapshot
	if s.Summary == "count" {
		q.Count = 0
	}
	res, err := e.store.Search(ctx, &q)
	if err != nil {
		return nil, e.record(ctx, ev, storeErr(err, "search"))
	}
	// An _include without a target type (or with :iterate) may reach
	// any type its reference allows: each type it returned is decided.
	seen := map[string]bool{typ: true}
	for _, r := range res.Included {
		if !seen[r.Type] {
			seen[r.Type] = true
			if err := e.authorize(ctx, access.SearchType, r.Type, ""); err != nil {
				return nil, err
			}
		}
	}
	ev.Count = len(res.Matches) + len(res.Included)
	ev.Patients = owners(owners(ev.Patients, res.Matches...), res.Included...)
	if err := e.openAll(ctx, res.Matches); err != nil {
		return nil, e.record(ctx, ev, err)
	}
	if err := e.openAll(ctx, res.Included); err != nil {
		return nil, e.record(ctx, ev, err)
	}
	if err := e.record(ctx, ev, nil); err != nil {
		return nil, err
	}
	return &SearchPage{Search: s, Result: res, Offset: q.Offset}, nil
}

// authorizeWhere decides the types a query's chains and _has clauses
// search through (their conditions filter on those types' data).
func (e *Engine) authorizeWhere(ctx context.Context, where []store.Clause) error {
	for _, cl := range where {
		for _, c := range cl {
			if err := e.authorizeCond(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Engine) authorizeCond(ctx context.Context, c store.Cond) error {
	switch c := c.(type) {
	case store.ChainCond:
		for _, t := range c.Types {
			if err := e.authorize(ctx, access.SearchType, t, ""); err != nil {
				return err
			}
		}
		return e.authorizeWhere(ctx, c.Where)
	case *store.ChainCond:
		return e.authorizeCond(ctx, *c)
	case store.HasCond:
		if err := e.authorize(ctx, access.SearchType, c.Type, ""); err != nil {
			return err
		}
		return e.authorizeWhere(ctx, c.Where)
	case *store.HasCond:
		return e.authorizeCond(ctx, *c)
	case store.NotCond:
		return e.authorizeCond(ctx, c.Cond)
	case *store.NotCond:
		return e.authorizeCond(ctx, c.Cond)
	}
	return nil
}

// History limits.
const (
	DefaultHistoryCount = 50
	MaxHistoryCount     = 1000
)

// HistoryRequest is a parsed history interaction.
type HistoryRequest struct {
	Type, ID string
	Params   url.Values // _since, _at, _count
	Offset   int
	Snapshot int64
}

// HistoryPage is one page of history with the parameters it was read with.
type HistoryPage struct {
	*store.HistoryPage
	Type   string
	ID     string
	Count  int
	Offset int
	Params url.Values
}

// History lists versions at instance (Type and ID), type (Type) or system
// level, newest first.
func (e *Engine) History(ctx context.Context, hr *HistoryRequest) (*HistoryPage, error) {
	in := access.HistorySystem
	switch {
	case hr.ID != "":
		in = access.HistoryInst
	case hr.Type != "":
		in = access.HistoryType
	}
	if hr.Type != "" {
		if err := checkTypeID(hr.Type, hr.ID); err != nil {
			return nil, err
		}
	}
	ev, err := e.begin(ctx, in, hr.Type, hr.ID)
	if err != nil {
		return nil, err
	}
	q := &store.HistoryQuery{Type: hr.Type, ID: hr.ID, Count: DefaultHistoryCount, Offset: hr.Offset, Before: hr.Snapshot}
	canon := url.Values{}
	for name, vs := range hr.Params {
		for _, v := range vs {
			switch name {
			case "_since":
				t, err := parseInstant(v)
				if err != nil {
					return nil, e.record(ctx, ev, fault.New(fault.Invalid, "_since must be an instant"))
				}
				q.Since = t
			case "_at":
				// The version current at the end of the given period.
				_, next, err := searchTime(v)
				if err != nil {
					return nil, e.record(ctx, ev, fault.New(fault.Invalid, "_at must be a date or dateTime"))
				}
				q.At = next.Add(-time.Microsecond)
			case "_count":
				c, err := strconv.Atoi(v)
				if err != nil || c < 0 {
					return nil, e.record(ctx, ev, fault.New(fault.Invalid, "_count must be a non-negative integer"))
				}
				q.Count = min(c, MaxHistoryCount)
			case "_format", "_pretty", "_page":
				continue
			default:
				return nil, e.record(ctx, ev, fault.New(fault.Invalid, "unknown history parameter %q", name))
			}
			canon.Add(name, v)
		}
	}
	if hr.ID != "" {
		if _, err := e.store.Read(ctx, hr.Type, hr.ID); err != nil {
			return nil, e.record(ctx, ev, storeErr(err, "resource"))
		}
	}
	p, err := e.store.History(ctx, q)
	if err != nil {
		return nil, e.record(ctx, ev, storeErr(err, "history"))
	}
	ev.Count = len(p.Versions)
	ev.Patients = owners(ev.Patients, p.Versions...)
	if err := e.openAll(ctx, p.Versions); err != nil {
		return nil, e.record(ctx, ev, err)
	}
	if err := e.record(ctx, ev, nil); err != nil {
		return nil, err
	}
	return &HistoryPage{HistoryPage: p, Type: hr.Type, ID: hr.ID, Count: q.Count, Offset: q.Offset, Params: canon}, nil
}

func parseInstant(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	t, _, err := searchTime(v)
	return t, err
}

func searchTime(v string) (time.Time, time.Time, error) { return search.ParseTime(v) }
