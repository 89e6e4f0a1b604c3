package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
)

// WriteResult is the outcome of a create, update or delete.
type WriteResult struct {
	// Resource is the version written, or the existing resource a
	// conditional create matched; nil after a delete of nothing.
	Resource *store.Resource
	Created  bool // a new resource (201)
	NoOp     bool // nothing was written
	Warnings []fhir.Issue
}

// op is one prepared write with the assumptions it was prepared under.
type op struct {
	w      *store.Write // nil: nothing to write
	checks []check
	result WriteResult
	// hidden: a delete of a resource the principal may not see, answered
	// as the delete of one that does not exist (why, for the audit).
	hidden string
}

// check is an assumption verified inside the write transaction: the query
// still matches exactly the ids it matched when the write was prepared.
type check struct {
	q    *store.Query
	want []string
}

var errStale = errors.New("engine: prepared write is stale")

// maxAttempts bounds how often a write is prepared again after a
// conflict. A write loses a round only to another write of the same
// resource that committed meanwhile, so with this many attempts every one
// of as many concurrent unconditional updates of one resource succeeds
// (several nodes on PostgreSQL commit concurrently; SQLite's single writer
// rarely needs a second attempt).
const maxAttempts = 16

// commit prepares ops and applies them in one store transaction, retrying
// from scratch when an assumption no longer holds. after, when not nil,
// runs inside the same transaction once the writes are applied (the reads
// of a transaction Bundle); its error undoes everything. audited, when not
// nil, fills in the audit event from the prepared ops (at every attempt, so
// that it describes what commits): with a recorder that can
// (audit.Encoder), its record is appended in the same transaction, and it
// is marked Recorded once that commits.
func (e *Engine) commit(ctx context.Context, prepare func() ([]*op, error), after func(store.Tx) error, audited func([]*op) *audit.Event) ([]*op, error) {
	enc, inTx := e.audit.(audit.Encoder)
	for attempt := 0; ; attempt++ {
		ops, err := prepare()
		if err != nil {
			return nil, err
		}
		var ev *audit.Event
		var record []byte
		if audited != nil {
			ev = audited(ops)
			if inTx {
				if record, err = enc.Encode(ev); err != nil {
					return nil, fault.Wrap(fault.Unavailable, err, "the audit log is unavailable")
				}
			}
		}
		err = e.store.Update(ctx, func(tx store.Tx) error {
			for _, o := range ops {
				for _, c := range o.checks {
					res, err := tx.Search(c.q)
					if err != nil {
						return err
					}
					if !sameIDs(res.Matches, c.want) {
						return errStale
					}
				}
			}
			for _, o := range ops {
				if o.w != nil {
					if err := tx.Put(o.w); err != nil {
						return err
					}
				}
			}
			if after != nil {
				if err := after(tx); err != nil {
					return err
				}
			}
			if record != nil {
				tx.AppendAudit(record)
			}
			return nil
		})
		if err == nil {
			if record != nil {
				ev.Recorded = true
			}
			for _, o := range ops {
				if o.w != nil {
					var body []byte
					if o.result.Resource != nil {
						body = o.result.Resource.Body
					}
					e.written(o.w, body)
				}
			}
			return ops, nil
		}
		if (errors.Is(err, store.ErrConflict) || errors.Is(err, errStale)) && attempt+1 < maxAttempts {
			// A moment's jitter, so that the writers that lost this
			// round do not meet again at once.
			time.Sleep(rand.N(time.Duration(attempt+1) * time.Millisecond))
			continue
		}
		return nil, storeErr(err, "resource")
	}
}

func sameIDs(rs []*store.Resource, want []string) bool {
	if len(rs) != len(want) {
		return false
	}
	for _, r := range rs {
		if !slices.Contains(want, r.ID) {
			return false
		}
	}
	return true
}

// validate checks a resource body for a write to type typ.
func (e *Engine) validate(res map[string]any, typ string) ([]fhir.Issue, error) {
	if rt, _ := res["resourceType"].(string); rt != typ {
		return nil, fault.New(fault.Invalid, "the resource type of the body does not match the URL")
	}
	issues := fhir.Validate(res)
	if len(issues) > MaxIssues {
		more := len(issues) - MaxIssues
		issues = append(issues[:MaxIssues:MaxIssues], fhir.Issue{Severity: "information", Code: "informational",
			Diagnostics: fmt.Sprintf("%d more issues not listed", more)})
	}
	if fhir.HasErrors(issues) {
		return nil, fault.WithIssues(fault.Invalid, issues)
	}
	return issues, nil
}

// MaxIssues caps the issues one OperationOutcome lists.
const MaxIssues = 100

// Timestamps are kept at millisecond precision, so that meta.lastUpdated
// in the body and the stored column agree exactly.
func (e *Engine) stamp() time.Time { return e.now().UTC().Truncate(time.Millisecond) }

// FormatInstant formats a time as a FHIR instant.
func FormatInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// build sets the server-owned fields of res and returns the write: body,
// index rows (encoded) and version.
func (e *Engine) build(ctx context.Context, res map[string]any, typ, id string, version int64, at time.Time, m store.Method) (*store.Write, *store.Resource, error) {
	res["id"] = id
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = make(map[string]any, 2)
	}
	meta["versionId"] = strconv.FormatInt(version, 10)
	meta["lastUpdated"] = FormatInstant(at)
	res["meta"] = meta
	body, err := fhir.Marshal(res)
	if err != nil {
		return nil, nil, fault.Wrap(fault.Invalid, err, "the resource cannot be encoded")
	}
	idx, err := e.reg.Extract(res)
	if err != nil {
		return nil, nil, fault.Wrap(fault.Internal, err, "indexing failed")
	}
	owner := e.owner(typ, id, idx)
	in := access.Update
	if m == store.MethodCreate {
		in = access.Create
	}
	if err := e.checkWrite(ctx, in, typ, owner, labelsOfMap(res)); err != nil {
		return nil, nil, err
	}
	if err := e.enc.EncodeIndex(idx); err != nil {
		return nil, nil, cryptErr(err)
	}
	sealed, err := e.sealBody(ctx, owner, typ, id, version, body)
	if err != nil {
		return nil, nil, err
	}
	w := &store.Write{Type: typ, ID: id, Version: version, Updated: at, Method: m, Body: sealed, Index: idx, Owner: owner}
	return w, resultOf(w, body), nil
}

// resultOf is the version a write stores, with its plaintext body.
func resultOf(w *store.Write, body []byte) *store.Resource {
	return &store.Resource{Type: w.Type, ID: w.ID, Version: w.Version, Updated: w.Updated, Method: w.Method, Deleted: w.Deleted, Body: body, Owner: w.Owner}
}

// conditional runs a search for a conditional interaction and returns the
// matching ids (at most 2: more than one is an error anyway) and the query
// to verify inside the transaction. The criteria must filter (a condition
// that matches everything would act on any resource), and may only use
// conditions that are cheap index lookups: they are checked again inside
// the single write transaction.
func (e *Engine) conditional(ctx context.Context, typ, rawQuery string) ([]string, *store.Query, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, nil, fault.New(fault.Invalid, "the conditional query is not a valid URL query")
	}
	_, reach, err := e.decide(ctx, access.SearchType, typ, "")
	if err != nil {
		return nil, nil, err
	}
	s, err := e.reg.Parse(typ, values, search.Options{Encoder: e.enc, Now: e.now()})
	if err != nil {
		return nil, nil, err
	}
	q := s.Query
	// The criteria see only what the principal may see: a match it may
	// not see neither blocks nor reveals anything.
	if _, err := e.restrict(ctx, nil, &q, typ, nil, []*access.Reach{reach}); err != nil {
		return nil, nil, err
	}
	if len(q.Where) == 0 {
		return nil, nil, fault.New(fault.PreconditionFailed, "a conditional operation needs search criteria that filter")
	}
	if len(q.Include) > 0 || len(q.RevInclude) > 0 || len(q.Sort) > 0 || s.Summary != "" || len(s.Elements) > 0 {
		return nil, nil, fault.New(fault.Invalid, "conditional criteria take search parameters only (no _include, _revinclude, _sort, _summary or _elements)")
	}
	for _, c := range q.Where {
		for _, cond := range c {
			if !cheap(cond) {
				return nil, nil, fault.New(fault.Invalid, "conditional criteria may not use chains, _has, :contains, :not, :missing or :text")
			}
		}
	}
	q.Count, q.Offset, q.Total = 2, 0, false
	res, err := e.store.Search(ctx, &q)
	if err != nil {
		return nil, nil, storeErr(err, "search")
	}
	ids := make([]string, len(res.Matches))
	for i, r := range res.Matches {
		ids[i] = r.ID
	}
	q.Snapshot = 0
	return ids, &q, nil
}

// cheap reports whether a condition is an index lookup that stops early,
// fit to be checked inside the write transaction.
func cheap(c store.Cond) bool {
	switch c := c.(type) {
	case store.ChainCond, store.HasCond, store.NotCond, store.MissingCond:
		return false
	case store.StringCond:
		return c.Match != store.StringContains && !strings.HasSuffix(c.Param, search.TextSuffix)
	case store.CompositeCond:
		for _, p := range c.Parts {
			if !cheap(p) {
				return false
			}
		}
	}
	return true
}

// absent returns a check that typ/id does not exist (or is deleted), after
// verifying it now.
func (e *Engine) absent(ctx context.Context, typ, id string) (check, error) {
	cur, err := e.store.Read(ctx, typ, id)
	if err == nil && !cur.Deleted {
		return check{}, fault.New(fault.Conflict, "a resource with the body's id exists but does not match the criteria")
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return check{}, storeErr(err, "resource")
	}
	return check{q: &store.Query{Type: typ, Count: 1, Where: []store.Clause{{store.IDCond{IDs: []string{id}}}}}}, nil
}

// writeOne runs a single-resource write: the policy decision, checks of
// the request (pre, may be nil), validation of res (when not nil), the
// prepared and verified commit, and the audit event.
func (e *Engine) writeOne(ctx context.Context, in access.Interaction, typ, id string, res map[string]any, pre func() error, prepare func() (*op, error)) (*WriteResult, error) {
	if err := checkTypeID(typ, id); err != nil {
		return nil, err
	}
	if typ == "AuditEvent" {
		return nil, fault.New(fault.MethodNotAllowed, "AuditEvents are written by the server alone, into its audit log")
	}
	ev, err := e.begin(ctx, in, typ, id)
	if err != nil {
		return nil, err
	}
	if pre != nil {
		if err := pre(); err != nil {
			return nil, e.record(ctx, ev, err)
		}
	}
	var warnings []fhir.Issue
	if res != nil {
		if warnings, err = e.validate(res, typ); err != nil {
			return nil, e.record(ctx, ev, err)
		}
	}
	// The event of the write as prepared: it commits with the write.
	describe := func(ops []*op) *audit.Event {
		r := &ops[0].result
		if h := ops[0].hidden; h != "" {
			ev.Reason += "; denied (answered as absent): " + h
			ev.Outcome = audit.MinorFailure
		}
		if r.Resource != nil && !(in == access.Delete && r.NoOp) {
			ev.ID, ev.Version, ev.Count = r.Resource.ID, r.Resource.Version, 1
			ev.Patients = owners(ev.Patients[:0], r.Resource)
		}
		switch {
		case in == access.Create && r.NoOp:
			ev.Action = "R" // a conditional create that matched reads
		case in == access.Update && r.Created:
			ev.Action = "C"
		default:
			ev.Action = actionOf(in)
		}
		return ev
	}
	ops, err := e.commit(ctx, func() ([]*op, error) {
		o, err := prepare()
		if err != nil {
			return nil, err
		}
		return []*op{o}, nil
	}, nil, describe)
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	r := &ops[0].result
	r.Warnings = warnings
	return r, e.record(ctx, ev, nil)
}

// Create creates a resource with a server-assigned id. With ifNoneExist
// (the query of an If-None-Exist header) it returns the existing resource
// instead when exactly one matches.
func (e *Engine) Create(ctx context.Context, typ string, res map[string]any, ifNoneExist string) (*WriteResult, error) {
	id := newID()
	return e.writeOne(ctx, access.Create, typ, "", res, nil, func() (*op, error) {
		return e.prepareCreate(ctx, typ, id, res, ifNoneExist)
	})
}

func (e *Engine) prepareCreate(ctx context.Context, typ, id string, res map[string]any, ifNoneExist string) (*op, error) {
	o := &op{}
	if ifNoneExist != "" {
		ids, q, err := e.conditional(ctx, typ, ifNoneExist)
		if err != nil {
			return nil, err
		}
		switch len(ids) {
		case 0:
			o.checks = append(o.checks, check{q: q})
		case 1:
			cur, err := e.store.Read(ctx, typ, ids[0])
			if err != nil {
				return nil, storeErr(err, "resource")
			}
			if err := e.openBody(ctx, cur); err != nil {
				return nil, err
			}
			o.checks = append(o.checks, check{q: q, want: ids})
			o.result = WriteResult{Resource: cur, NoOp: true}
			return o, nil
		default:
			return nil, fault.New(fault.PreconditionFailed, "the If-None-Exist criteria match more than one resource")
		}
	}
	w, r, err := e.build(ctx, res, typ, id, 1, e.stamp(), store.MethodCreate)
	if err != nil {
		return nil, err
	}
	o.w = w
	o.result = WriteResult{Resource: r, Created: true}
	return o, nil
}

// Update stores a new version of typ/id, creating it if it does not exist
// (update as create). ifMatch, when not zero, is the version the client
// expects to replace.
func (e *Engine) Update(ctx context.Context, typ, id string, res map[string]any, ifMatch int64) (*WriteResult, error) {
	sameID := func() error {
		if bodyID, _ := res["id"].(string); bodyID != id {
			return fault.New(fault.Invalid, "the resource id in the body must equal the id in the URL")
		}
		return nil
	}
	return e.writeOne(ctx, access.Update, typ, id, res, sameID, func() (*op, error) {
		return e.prepareUpdate(ctx, typ, id, res, ifMatch, nil)
	})
}

func (e *Engine) prepareUpdate(ctx context.Context, typ, id string, res map[string]any, ifMatch int64, checks []check) (*op, error) {
	var version int64 = 1
	created := true
	cur, err := e.store.Read(ctx, typ, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, storeErr(err, "resource")
	default:
		version = cur.Version + 1
		created = cur.Deleted
		if !cur.Deleted {
			if err := e.checkCurrent(ctx, access.Update, cur); err != nil {
				return nil, err
			}
		}
	}
	if ifMatch != 0 && (cur == nil || cur.Version != ifMatch) {
		return nil, fault.New(fault.PreconditionFailed, "the resource version does not match If-Match")
	}
	method := store.MethodUpdate
	if created && cur == nil {
		method = store.MethodCreate
	}
	w, r, err := e.build(ctx, res, typ, id, version, e.stamp(), method)
	if err != nil {
		return nil, err
	}
	return &op{w: w, checks: checks, result: WriteResult{Resource: r, Created: created}}, nil
}

// ConditionalUpdate updates the one resource that matches query, or
// creates one when none does.
func (e *Engine) ConditionalUpdate(ctx context.Context, typ, query string, res map[string]any, ifMatch int64) (*WriteResult, error) {
	fresh := newID()
	bodyID, _ := res["id"].(string) // before a failed attempt sets it
	return e.writeOne(ctx, access.Update, typ, "", res, nil, func() (*op, error) {
		return e.prepareConditionalUpdate(ctx, typ, query, res, bodyID, ifMatch, fresh)
	})
}

func (e *Engine) prepareConditionalUpdate(ctx context.Context, typ, query string, res map[string]any, bodyID string, ifMatch int64, fresh string) (*op, error) {
	ids, q, err := e.conditional(ctx, typ, query)
	if err != nil {
		return nil, err
	}
	switch len(ids) {
	case 0:
		id := fresh
		checks := []check{{q: q}}
		if bodyID != "" {
			c, err := e.absent(ctx, typ, bodyID)
			if err != nil {
				return nil, err
			}
			id = bodyID
			checks = append(checks, c)
		}
		return e.prepareUpdate(ctx, typ, id, res, ifMatch, checks)
	case 1:
		if bodyID != "" && bodyID != ids[0] {
			return nil, fault.New(fault.Invalid, "the resource id in the body does not match the resource found by the criteria")
		}
		return e.prepareUpdate(ctx, typ, ids[0], res, ifMatch, []check{{q: q, want: ids}})
	}
	return nil, fault.New(fault.PreconditionFailed, "the criteria match more than one resource")
}

// Delete deletes typ/id. Deleting a resource that does not exist or is
// already deleted succeeds without writing anything.
func (e *Engine) Delete(ctx context.Context, typ, id string) (*WriteResult, error) {
	return e.writeOne(ctx, access.Delete, typ, id, nil, nil, func() (*op, error) {
		return e.prepareDelete(ctx, typ, id, nil)
	})
}

func (e *Engine) prepareDelete(ctx context.Context, typ, id string, checks []check) (*op, error) {
	cur, err := e.store.Read(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		// For a principal limited by patient, deleting what does not
		// exist is refused like deleting what it may not see.
		if err := e.missing(ctx, e.reachOf(ctx, access.Delete, typ), typ, storeErr(err, "resource")); fault.KindOf(err) != fault.NotFound {
			return nil, err
		}
		return &op{checks: checks, result: WriteResult{NoOp: true}}, nil
	}
	if err != nil {
		return nil, storeErr(err, "resource")
	}
	if cur.Deleted {
		if reach := e.reachOf(ctx, access.Delete, typ); reach != nil {
			if err := e.checkTarget(ctx, nil, reach, access.Target{Type: typ, Owner: cur.Owner}); err != nil {
				return nil, err
			}
		}
		return &op{checks: checks, result: WriteResult{NoOp: true, Resource: cur}}, nil
	}
	if err := e.checkCurrent(ctx, access.Delete, cur); err != nil {
		var d *denied
		if errors.As(err, &d) && !restricted(e.reachOf(ctx, access.Delete, typ)) {
			// A principal that reaches every patient gets, for what a
			// label or consent hides from it, what it gets for nothing.
			return &op{checks: checks, result: WriteResult{NoOp: true}, hidden: d.reason}, nil
		}
		return nil, err
	}
	w := &store.Write{Type: typ, ID: id, Version: cur.Version + 1, Updated: e.stamp(), Method: store.MethodDelete, Deleted: true, Owner: cur.Owner}
	return &op{w: w, checks: checks, result: WriteResult{Resource: resultOf(w, nil)}}, nil
}

// ConditionalDelete deletes the one resource matching query.
func (e *Engine) ConditionalDelete(ctx context.Context, typ, query string) (*WriteResult, error) {
	return e.writeOne(ctx, access.Delete, typ, "", nil, nil, func() (*op, error) {
		return e.prepareConditionalDelete(ctx, typ, query)
	})
}

func (e *Engine) prepareConditionalDelete(ctx context.Context, typ, query string) (*op, error) {
	ids, q, err := e.conditional(ctx, typ, query)
	if err != nil {
		return nil, err
	}
	switch len(ids) {
	case 0:
		return &op{result: WriteResult{NoOp: true}}, nil
	case 1:
		return e.prepareDelete(ctx, typ, ids[0], []check{{q: q, want: ids}})
	}
	return nil, fault.New(fault.PreconditionFailed, "the criteria match more than one resource")
}
