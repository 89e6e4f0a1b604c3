package engine

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
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
	ev, reach, err := e.decide(ctx, access.SearchType, typ, "")
	if err != nil {
		return nil, err
	}
	ev.Query = params.Encode()
	s, err := e.reg.Parse(typ, params, search.Options{Lenient: opt.Lenient, Encoder: e.enc, Now: e.now()})
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	// What _include and _revinclude add, and the types chains and _has
	// search through, are searched too: each type is decided, and the
	// reach of each applies to everything the query returns.
	reaches := []*access.Reach{reach}
	decided := map[string]bool{typ: true}
	also := func(t string) error {
		if t == "" || decided[t] {
			return nil
		}
		_, r, err := e.decide(ctx, access.SearchType, t, "")
		if err != nil {
			return err
		}
		decided[t] = true
		reaches = append(reaches, r)
		return nil
	}
	for _, inc := range s.Query.Include {
		for _, t := range []string{inc.TargetType, inc.SourceType} {
			if err := also(t); err != nil {
				return nil, err
			}
		}
	}
	for _, inc := range s.Query.RevInclude {
		if err := also(inc.SourceType); err != nil {
			return nil, err
		}
	}
	if err := e.authorizeWhere(ctx, s.Query.Where, also); err != nil {
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
	fl, err := e.restrict(ctx, ev, &q, typ, params, reaches)
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	res, err := e.store.Search(ctx, &q)
	if err != nil {
		return nil, e.record(ctx, ev, storeErr(err, "search"))
	}
	// An _include without a target type (or with :iterate) may reach
	// any type its reference allows: each type it returned is decided.
	for _, r := range res.Included {
		if !decided[r.Type] {
			decided[r.Type] = true
			_, rr, err := e.decide(ctx, access.SearchType, r.Type, "")
			if err != nil {
				return nil, e.record(ctx, ev, err)
			}
			if !sameReach(reach, rr) {
				// The filter applied was not made for this type.
				return nil, e.record(ctx, ev, &denied{err: fault.New(fault.Forbidden, "access denied: _include reaches %s, which your access covers differently; name the target type", r.Type), reason: "include of " + r.Type + " with another reach"})
			}
		}
	}
	ev.Count = len(res.Matches) + len(res.Included)
	ev.Patients = owners(owners(ev.Patients, res.Matches...), res.Included...)
	e.noteFilter(ctx, ev, fl)
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

// restrict adds to q the access conditions of the reaches (every one
// applies to everything the query returns), the scope constraints of the
// searched type, and breaks the glass for the one patient a search names
// when that is asked. It returns the filter of the searched type.
func (e *Engine) restrict(ctx context.Context, ev *audit.Event, q *store.Query, typ string, params url.Values, reaches []*access.Reach) (*access.Filter, error) {
	var fl *access.Filter
	for i, r := range reaches {
		if r == nil {
			continue
		}
		if i > 0 && len(r.Constraints) > 0 {
			return nil, &denied{err: fault.New(fault.Forbidden, "access denied: a scope constraint limits a type this search includes or chains through"), reason: "constrained scope on an included type"}
		}
		if i > 0 && sameReach(reaches[0], r) {
			continue
		}
		f, err := e.factsFor(ctx, r)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			if patient := e.searchPatient(typ, params); ev != nil && patient != "" && r.Patients == access.PatientsRelated {
				if _, ok := f.Related[patient]; !ok {
					if _, ok := f.Glass[patient]; !ok {
						e.breakGlass(ctx, ev, r, f, patient)
					}
				}
			}
		}
		clauses, filter, err := e.visible(ctx, r, f)
		if err != nil {
			return nil, err
		}
		q.Visible = append(q.Visible, clauses...)
		if i == 0 {
			fl = filter
			if len(r.Constraints) > 0 {
				if len(q.Include) > 0 || len(q.RevInclude) > 0 {
					return nil, &denied{err: fault.New(fault.Forbidden, "access denied: a scope constraint on %s cannot be combined with _include or _revinclude", typ), reason: "constrained scope with includes"}
				}
				cl, err := e.constraintClause(typ, r.Constraints)
				if err != nil {
					return nil, err
				}
				q.Where = append(q.Where, cl...)
			}
		}
	}
	return fl, nil
}

// sameReach reports whether two reaches give the same filter.
func sameReach(a, b *access.Reach) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Patients == b.Patients && a.Only == b.Only && a.Tenant == b.Tenant && a.Consent == b.Consent &&
		a.ConsentDeny == b.ConsentDeny && a.Practitioner == b.Practitioner && a.Self == b.Self && a.Purpose == b.Purpose &&
		a.Organization == b.Organization && slices.Equal(a.Directory, b.Directory) &&
		slices.Equal(a.Labels, b.Labels) && slices.Equal(a.Organizations, b.Organizations) && len(b.Constraints) == 0
}

// noteFilter records in ev how a search was limited, and raises the alerts
// of what it returned.
func (e *Engine) noteFilter(ctx context.Context, ev *audit.Event, fl *access.Filter) {
	if fl == nil {
		return
	}
	switch {
	case fl.All && len(fl.Exclude) == 0:
		ev.Reason += "; every patient"
	case fl.All:
		ev.Reason += "; every patient but " + strconv.Itoa(len(fl.Exclude))
	default:
		ev.Reason += "; " + strconv.Itoa(len(fl.Patients)) + " patients in reach"
	}
	if len(fl.HideLabels) > 0 {
		ev.Reason += "; labels hidden"
	}
	if len(fl.Rules) > 0 {
		ev.Reason += "; " + strconv.Itoa(len(fl.Rules)) + " consent rules"
	}
	for _, p := range ev.Patients {
		if slices.Contains(fl.Glass, p) {
			ev.BreakGlass = true
		}
		if slices.Contains(fl.Alert, p) {
			e.alert(ctx, ev, p)
		}
	}
}

// authorizeWhere decides the types a query's chains and _has clauses
// search through (their conditions filter on those types' data); decide
// is called with each.
func (e *Engine) authorizeWhere(ctx context.Context, where []store.Clause, decide func(typ string) error) error {
	for _, cl := range where {
		for _, c := range cl {
			if err := e.authorizeCond(ctx, c, decide); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Engine) authorizeCond(ctx context.Context, c store.Cond, decide func(typ string) error) error {
	switch c := c.(type) {
	case store.ChainCond:
		for _, t := range c.Types {
			if err := decide(t); err != nil {
				return err
			}
		}
		return e.authorizeWhere(ctx, c.Where, decide)
	case *store.ChainCond:
		return e.authorizeCond(ctx, *c, decide)
	case store.HasCond:
		if err := decide(c.Type); err != nil {
			return err
		}
		return e.authorizeWhere(ctx, c.Where, decide)
	case *store.HasCond:
		return e.authorizeCond(ctx, *c, decide)
	case store.NotCond:
		return e.authorizeCond(ctx, c.Cond, decide)
	case *store.NotCond:
		return e.authorizeCond(ctx, c.Cond, decide)
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
	ev, reach, err := e.decide(ctx, in, hr.Type, hr.ID)
	if err != nil {
		return nil, err
	}
	if reach != nil && hr.ID == "" {
		// Type and system history list versions of any resource, deleted
		// ones included, whose labels and compartments the index no
		// longer shows: only for a reach nothing limits.
		f, err := e.factsFor(ctx, reach)
		if err != nil {
			return nil, e.record(ctx, ev, err)
		}
		fl := reach.Filter(f)
		if !fl.All || len(fl.Exclude) > 0 || len(fl.HideLabels) > 0 || len(fl.Rules) > 0 || len(fl.Constraints) > 0 || !fl.Tenant {
			return nil, e.record(ctx, ev, &denied{err: fault.New(fault.Forbidden, "access denied: type and system history are for access that no patient, label or consent rule limits; use the history of a resource"), reason: "history across resources with a limited reach"})
		}
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
	if hr.ID != "" && reach != nil && len(reach.Constraints) > 0 {
		// A constraint is matched on the current version's index: the
		// older versions are out of its reach.
		return nil, e.record(ctx, ev, refuse(reach, "history under a constrained scope"))
	}
	if hr.ID != "" {
		cur, err := e.store.Read(ctx, hr.Type, hr.ID)
		if err != nil {
			return nil, e.record(ctx, ev, e.missing(ctx, reach, hr.Type, storeErr(err, "resource")))
		}
		if err := e.checkTarget(ctx, ev, reach, access.Target{Type: hr.Type, Owner: cur.Owner}); err != nil {
			return nil, e.record(ctx, ev, err)
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
	if hr.ID != "" && reach != nil {
		// Every version shown is decided (its compartment and labels):
		// one refused refuses the history.
		for _, v := range p.Versions {
			if v.Deleted {
				continue
			}
			if err := e.checkTarget(ctx, nil, reach, access.Target{Type: v.Type, Owner: v.Owner, Labels: labelsOf(v.Body)}); err != nil {
				ev.Count = 0
				return nil, e.record(ctx, ev, err)
			}
		}
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
