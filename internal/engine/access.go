package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
)

// BreakGlassHeader is the request header that states why a user breaks the
// glass (internal/server reads it into the principal).
const BreakGlassHeader = "X-Break-Glass-Reason"

// Client-visible refusals of a data-dependent decision. They are the same
// whether the resource exists or not, so that they reveal nothing.
const (
	msgRestricted = "access denied: this resource is not available to you (a treatment relationship, the patient's consent and security labels decide)"
	msgGlassHint  = "; break-the-glass is possible: repeat the request with the header " + BreakGlassHeader + " stating why"
	msgHidden     = "resource not found"
)

// denied is a refusal of one resource (or a query's patient) by the
// policy: the client sees err, the audit record reason.
type denied struct {
	err    *fault.Error
	reason string
}

func (d *denied) Error() string { return d.err.Error() }
func (d *denied) Unwrap() error { return d.err }

// restricted reports whether a reach is limited by patient (a
// relationship or one compartment): such principals get the same 403 for
// what they may not see and for what does not exist; others get 404 for
// both.
func restricted(r *access.Reach) bool {
	return r != nil && (r.Patients != access.PatientsAll || r.Only != "")
}

// refuse returns the client-visible refusal for a reach.
func refuse(r *access.Reach, reason string) error {
	if !restricted(r) {
		return &denied{err: fault.New(fault.NotFound, msgHidden), reason: reason}
	}
	msg := msgRestricted
	if r.BreakGlass > 0 {
		msg += msgGlassHint
	}
	return &denied{err: fault.New(fault.Forbidden, "%s", msg), reason: reason}
}

// decide starts a data interaction: the policy's decision (begin) and its
// reach (nil from policies without one: no limit).
func (e *Engine) decide(ctx context.Context, in access.Interaction, typ, id string) (*audit.Event, *access.Reach, error) {
	p := access.PrincipalFrom(ctx)
	d := e.policy.Decide(ctx, &access.Request{Principal: p, Interaction: in, ResourceType: typ, ID: id})
	ev := e.event(ctx, in, typ, id)
	ev.Reason = d.Reason
	if d.Allow {
		if d.Reach != nil {
			ev.Purpose = d.Reach.Purpose
		}
		return ev, d.Reach, nil
	}
	ev.Outcome = audit.MinorFailure
	if err := e.audit.Record(ctx, ev); err != nil {
		return nil, nil, fault.Wrap(fault.Unavailable, err, "the audit log is unavailable")
	}
	return nil, nil, fault.New(fault.Forbidden, "access denied")
}

// reachOf returns the reach of an interaction on typ without auditing (a
// part of an interaction already decided and audited as a whole). A
// refusal reaches nothing (fail closed), never "no limit".
func (e *Engine) reachOf(ctx context.Context, in access.Interaction, typ string) *access.Reach {
	d := e.policy.Decide(ctx, &access.Request{Principal: access.PrincipalFrom(ctx), Interaction: in, ResourceType: typ})
	if !d.Allow {
		return &access.Reach{Patients: access.PatientsNone}
	}
	return d.Reach
}

// ---- facts --------------------------------------------------------------

// factsTTL bounds how long gathered facts are reused even without a local
// write that changes them (another node may have written).
const factsTTL = 10 * time.Second

// factCache keeps the facts the policy decides from. Each kind has a
// generation that committed writes of its sources advance (written).
type factCache struct {
	genRelated, genConsents, genLabelled atomic.Int64

	mu       sync.Mutex
	related  map[string]cached[map[string]string]
	consents cached[map[string][]*access.PatientConsent]
	labelled cached[map[string][]access.Label]
}

type cached[T any] struct {
	gen  int64
	at   time.Time
	v    T
	have bool
}

func (c *cached[T]) fresh(gen int64, now time.Time) bool {
	return c.have && c.gen == gen && now.Sub(c.at) < factsTTL
}

// written tells the fact cache of a committed write (w; body is the
// plaintext of what it stored, nil for a delete).
func (e *Engine) written(w *store.Write, body []byte) {
	switch w.Type {
	case "CareTeam", "Encounter":
		e.facts.genRelated.Add(1)
	case "Consent":
		e.facts.genConsents.Add(1)
	case "Patient":
		// Any version may add or drop a generalPractitioner or a
		// managingOrganization.
		e.facts.genRelated.Add(1)
		labelled := w.Deleted
		for _, l := range labelsOf(body) {
			if access.IsRestricted(l) {
				labelled = true
			}
		}
		if !labelled {
			e.facts.mu.Lock()
			_, labelled = e.facts.labelled.v[w.ID]
			e.facts.mu.Unlock()
		}
		if labelled {
			e.facts.genLabelled.Add(1)
		}
	}
}

// forgetFacts drops every gathered fact (after an erasure).
func (e *Engine) forgetFacts() {
	e.facts.genRelated.Add(1)
	e.facts.genConsents.Add(1)
	e.facts.genLabelled.Add(1)
}

// factsFor gathers the facts a reach needs.
func (e *Engine) factsFor(ctx context.Context, r *access.Reach) (*access.Facts, error) {
	f := &access.Facts{Now: e.now()}
	if p := access.PrincipalFrom(ctx); p != nil {
		f.Glass = e.glass.grants(glassKey(p), f.Now)
	}
	var err error
	if r.Patients == access.PatientsRelated && (r.Practitioner != "" || len(r.Organizations) > 0) {
		if f.Related, err = e.relatedTo(ctx, r); err != nil {
			return nil, err
		}
	}
	if f.Labelled, err = e.labelledPatients(ctx); err != nil {
		return nil, err
	}
	if r.Consent {
		if f.Consents, err = e.privacyConsents(ctx); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// MaxRelated bounds the patients a relationship query gathers.
const MaxRelated = 100000

// relatedTo gathers the patients a practitioner has a treatment
// relationship with: a CareTeam participant, an Encounter participant
// (current, or ended within the window), the general practitioner, or an
// organization-wide rule.
func (e *Engine) relatedTo(ctx context.Context, r *access.Reach) (map[string]string, error) {
	key := r.Practitioner + "|" + strings.Join(r.Organizations, ",") + "|" + r.EncounterWindow.String()
	gen, now := e.facts.genRelated.Load(), e.now()
	e.facts.mu.Lock()
	c, ok := e.facts.related[key]
	e.facts.mu.Unlock()
	if ok && c.fresh(gen, now) {
		return c.v, nil
	}
	out := make(map[string]string)
	type relation struct {
		typ, how string
		params   url.Values
	}
	var queries []relation
	if r.Practitioner != "" {
		since := now.Add(-r.EncounterWindow).UTC().Format("2006-01-02T15:04:05Z")
		queries = []relation{
			{"CareTeam", "careteam", url.Values{"participant": {r.Practitioner}, "status:not": {"inactive", "entered-in-error"}}},
			{"Encounter", "encounter", url.Values{"participant": {r.Practitioner}, "date": {"ge" + since}, "status:not": {"entered-in-error", "cancelled"}}},
			{"Patient", "general-practitioner", url.Values{"general-practitioner": {r.Practitioner}}},
		}
	}
	for _, org := range r.Organizations {
		queries = append(queries, relation{"Patient", "organization", url.Values{"organization": {org}}})
	}
	for _, q := range queries {
		err := e.eachOwner(ctx, q.typ, q.params, func(owner string) {
			if _, ok := out[owner]; !ok {
				out[owner] = q.how
			}
		})
		if err != nil {
			return nil, err
		}
	}
	e.facts.mu.Lock()
	if e.facts.related == nil || len(e.facts.related) > 10000 {
		e.facts.related = make(map[string]cached[map[string]string])
	}
	e.facts.related[key] = cached[map[string]string]{gen: gen, at: now, v: out, have: true}
	e.facts.mu.Unlock()
	return out, nil
}

// eachOwner runs a search (no access control: the policy's own facts)
// and calls fn with the patient compartment of each match.
func (e *Engine) eachOwner(ctx context.Context, typ string, params url.Values, fn func(owner string)) error {
	s, err := e.reg.Parse(typ, params, search.Options{Encoder: e.enc, Now: e.now()})
	if err != nil {
		return fault.Wrap(fault.Internal, err, "access facts")
	}
	q := s.Query
	q.Count = 1000
	n := 0
	for {
		res, err := e.store.Search(ctx, &q)
		if err != nil {
			return storeErr(err, "access facts")
		}
		for _, r := range res.Matches {
			if r.Owner != "" {
				fn(r.Owner)
			}
		}
		n += len(res.Matches)
		if !res.More {
			return nil
		}
		if n >= MaxRelated {
			// Facts cut short would widen (labels) or narrow
			// (relationships) access: refuse rather than guess.
			return fault.New(fault.Unavailable, "access facts: more than %d matches", MaxRelated)
		}
		q.Offset += len(res.Matches)
		q.Snapshot = res.Snapshot
	}
}

// labelledPatients maps the patients whose Patient resource carries a
// restricted label to those labels.
func (e *Engine) labelledPatients(ctx context.Context) (map[string][]access.Label, error) {
	return cachedFact(e, &e.facts.genLabelled, &e.facts.labelled, func() (map[string][]access.Label, error) {
		return e.gatherLabelled(ctx)
	})
}

func (e *Engine) gatherLabelled(ctx context.Context) (map[string][]access.Label, error) {
	out := make(map[string][]access.Label)
	for _, l := range access.RestrictedLabels() {
		// The code in any system, as everywhere (access.IsRestricted).
		err := e.eachOwner(ctx, "Patient", url.Values{"_security": {l.Code}}, func(owner string) {
			out[owner] = append(out[owner], l)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cachedFact returns the fact in slot while its generation (gen) has not
// moved and it is younger than factsTTL, else gathers it again with fill.
func cachedFact[T any](e *Engine, gen *atomic.Int64, slot *cached[T], fill func() (T, error)) (T, error) {
	g, now := gen.Load(), e.now()
	e.facts.mu.Lock()
	c := *slot
	e.facts.mu.Unlock()
	if c.fresh(g, now) {
		return c.v, nil
	}
	v, err := fill()
	if err != nil {
		return v, err
	}
	e.facts.mu.Lock()
	*slot = cached[T]{gen: g, at: now, v: v, have: true}
	e.facts.mu.Unlock()
	return v, nil
}

// privacyConsents gathers the active Consents of scope patient-privacy.
func (e *Engine) privacyConsents(ctx context.Context) (map[string][]*access.PatientConsent, error) {
	return cachedFact(e, &e.facts.genConsents, &e.facts.consents, func() (map[string][]*access.PatientConsent, error) {
		return e.gatherConsents(ctx)
	})
}

func (e *Engine) gatherConsents(ctx context.Context) (map[string][]*access.PatientConsent, error) {
	now := e.now()
	s, err := e.reg.Parse("Consent", url.Values{
		"scope":  {"http://terminology.hl7.org/CodeSystem/consentscope|patient-privacy"},
		"status": {"active"},
	}, search.Options{Encoder: e.enc, Now: now})
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "access facts")
	}
	q := s.Query
	q.Count = 1000
	out := make(map[string][]*access.PatientConsent)
	for {
		res, err := e.store.Search(ctx, &q)
		if err != nil {
			return nil, storeErr(err, "access facts")
		}
		if err := e.openAll(ctx, res.Matches); err != nil {
			return nil, err
		}
		for _, r := range res.Matches {
			m, err := fhir.ParseResource(r.Body)
			if err != nil {
				return nil, fault.Wrap(fault.Internal, err, "a stored Consent does not parse")
			}
			pc, ok, err := access.ParseConsent(r.ID, m)
			if err != nil {
				// A consent the policy cannot read is enforced as a
				// refusal of everything of its patient (fail closed).
				pc, ok = &access.PatientConsent{ID: r.ID, Patient: r.Owner, Root: access.Provision{Deny: true}}, r.Owner != ""
			}
			if ok && pc.Patient != r.Owner {
				// Its patient reference does not name its compartment
				// (an absolute URL, say): it may only restrict.
				pc = &access.PatientConsent{ID: r.ID, Patient: pc.Patient, Root: access.Provision{Deny: true}}
			}
			if ok {
				out[pc.Patient] = append(out[pc.Patient], pc)
			}
		}
		if !res.More {
			break
		}
		q.Offset += len(res.Matches)
		q.Snapshot = res.Snapshot
	}
	return out, nil
}

// ---- break-the-glass ------------------------------------------------------

// glassGrants are the break-the-glass grants in force, by principal. They
// live in memory: a restart ends them (the safe direction).
type glassGrants struct {
	mu sync.Mutex
	m  map[string]map[string]time.Time
}

func glassKey(p *access.Principal) string { return p.Kind + ":" + p.ID }

func (g *glassGrants) grants(principal string, now time.Time) map[string]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.m[principal]
	if len(cur) == 0 {
		return nil
	}
	out := make(map[string]time.Time, len(cur))
	for p, until := range cur {
		if now.Before(until) {
			out[p] = until
		} else {
			delete(cur, p)
		}
	}
	return out
}

func (g *glassGrants) grant(principal, patient string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[string]map[string]time.Time)
	}
	if g.m[principal] == nil {
		g.m[principal] = make(map[string]time.Time)
	}
	g.m[principal][patient] = until
}

// breakGlass grants the principal of ctx time-boxed access to one patient,
// when it stated a reason and its reach allows it, and notes it in ev. It
// reports whether it granted.
func (e *Engine) breakGlass(ctx context.Context, ev *audit.Event, r *access.Reach, f *access.Facts, patient string) bool {
	p := access.PrincipalFrom(ctx)
	if p == nil || p.BreakGlass == "" || r.BreakGlass <= 0 || patient == "" {
		return false
	}
	until := f.Now.Add(r.BreakGlass)
	e.glass.grant(glassKey(p), patient, until)
	if f.Glass == nil {
		f.Glass = make(map[string]time.Time)
	}
	f.Glass[patient] = until
	ev.BreakGlass, ev.Alert = true, audit.AlertBreakGlass
	ev.Detail = "break-the-glass until " + until.UTC().Format(time.RFC3339) + "; reason: " + p.BreakGlass
	// An alert for the privacy officer (ids only: the reason stays in the
	// sealed record).
	e.log.WarnContext(ctx, "access alert: break-the-glass", slog.String("request", ev.RequestID),
		slog.String("principal", p.ID), slog.String("patient", patient))
	return true
}

// ---- one resource ----------------------------------------------------------

// labelsOf reads meta.security of a resource body.
func labelsOf(body []byte) []access.Label {
	if !bytes.Contains(body, []byte(`"security"`)) {
		return nil
	}
	var m struct {
		Meta struct {
			Security []struct{ System, Code string } `json:"security"`
		} `json:"meta"`
	}
	if json.Unmarshal(body, &m) != nil {
		// Unreadable labels: treat the resource as carrying every
		// restricted label (fail closed).
		return access.RestrictedLabels()
	}
	out := make([]access.Label, len(m.Meta.Security))
	for i, s := range m.Meta.Security {
		out[i] = access.Label{System: s.System, Code: s.Code}
	}
	return out
}

// labelsOfMap reads meta.security of a parsed resource.
func labelsOfMap(res map[string]any) []access.Label {
	meta, _ := res["meta"].(map[string]any)
	sec, _ := meta["security"].([]any)
	var out []access.Label
	for _, x := range sec {
		m, _ := x.(map[string]any)
		sys, _ := m["system"].(string)
		code, _ := m["code"].(string)
		out = append(out, access.Label{System: sys, Code: code})
	}
	return out
}

// checkTarget decides one resource (r with its opened body, or a write's
// owner and labels) for a reach, breaking the glass when that is asked
// and allowed; it notes the verdict in ev. A nil reach allows.
func (e *Engine) checkTarget(ctx context.Context, ev *audit.Event, r *access.Reach, t access.Target) error {
	if r == nil {
		return nil
	}
	f, err := e.factsFor(ctx, r)
	if err != nil {
		return err
	}
	v := r.Check(f, t)
	if !v.Allow && v.CanBreakGlass && ev != nil && e.breakGlass(ctx, ev, r, f, t.Owner) {
		v = r.Check(f, t)
	}
	if !v.Allow {
		return refuse(r, v.Reason)
	}
	if ev != nil {
		ev.Reason += "; " + v.Reason
		if v.BreakGlass {
			ev.BreakGlass = true
		}
		if v.Alert {
			e.alert(ctx, ev, t.Owner)
		}
	}
	return nil
}

// alert notes that a patient whose data raises alerts (a V label) was
// reached.
func (e *Engine) alert(ctx context.Context, ev *audit.Event, patient string) {
	ev.Reason += "; alert: restricted patient"
	if ev.Alert == "" {
		ev.Alert = audit.AlertRestrictedPatient
	}
	e.log.WarnContext(ctx, "access alert: restricted patient", slog.String("request", ev.RequestID),
		slog.String("principal", ev.Principal), slog.String("patient", patient))
}

// checkRead decides a resource read (opened), and its match against the
// reach's scope constraints.
func (e *Engine) checkRead(ctx context.Context, ev *audit.Event, reach *access.Reach, r *store.Resource) error {
	if reach == nil {
		return nil
	}
	if err := e.checkTarget(ctx, ev, reach, access.Target{Type: r.Type, Owner: r.Owner, Labels: labelsOf(r.Body)}); err != nil {
		return err
	}
	return e.checkConstraints(ctx, reach, r.Type, r.ID)
}

// checkConstraints matches typ/id against the reach's SMART v2 scope
// constraints (in the store, like a search).
func (e *Engine) checkConstraints(ctx context.Context, reach *access.Reach, typ, id string) error {
	if len(reach.Constraints) == 0 {
		return nil
	}
	cl, err := e.constraintClause(typ, reach.Constraints)
	if err != nil {
		return err
	}
	q := &store.Query{Type: typ, Count: 1, Where: append([]store.Clause{{store.IDCond{IDs: []string{id}}}}, cl...)}
	res, err := e.store.Search(ctx, q)
	if err != nil {
		return storeErr(err, "resource")
	}
	if len(res.Matches) == 0 {
		return refuse(reach, "outside the scope's constraint")
	}
	return nil
}

// constraintClause turns scope constraints (one of which must hold) into
// query clauses. Several constraints combine only when each is a single
// parameter (their conditions then form one OR); otherwise the request is
// refused.
func (e *Engine) constraintClause(typ string, constraints []string) ([]store.Clause, error) {
	var where []store.Clause
	var alts store.Clause
	for _, c := range constraints {
		params, err := url.ParseQuery(c)
		if err != nil {
			return nil, &denied{err: fault.New(fault.Forbidden, "access denied: a scope's constraint does not parse"), reason: "scope constraint does not parse"}
		}
		s, err := e.reg.Parse(typ, params, search.Options{Encoder: e.enc, Now: e.now()})
		if err != nil || len(s.Query.Include) > 0 || len(s.Query.RevInclude) > 0 {
			return nil, &denied{err: fault.New(fault.Forbidden, "access denied: a scope's constraint is not a search on %s", typ), reason: "scope constraint is not a search"}
		}
		if len(s.Query.Where) == 0 {
			return nil, &denied{err: fault.New(fault.Forbidden, "access denied: a scope's constraint filters nothing"), reason: "scope constraint without conditions"}
		}
		if len(constraints) == 1 {
			return s.Query.Where, nil
		}
		if len(s.Query.Where) != 1 {
			return nil, &denied{err: fault.New(fault.Forbidden, "access denied: scopes with several multi-parameter constraints on %s cannot be combined", typ), reason: "scope constraints cannot be combined"}
		}
		alts = append(alts, s.Query.Where[0]...)
	}
	where = append(where, alts)
	return where, nil
}

// ---- searches ----------------------------------------------------------------

// visible computes the access conditions of a search on typ (and what it
// includes), and the filter they come from. A nil reach has none.
func (e *Engine) visible(ctx context.Context, reach *access.Reach, f *access.Facts) ([]store.Clause, *access.Filter, error) {
	if reach == nil {
		return nil, nil, nil
	}
	fl := reach.Filter(f)
	// The consents' exceptions first: each is a clause of the query, and
	// a query holds a bounded number of them (SQLite bounds the depth of
	// an expression; the statement must not grow with the data). The
	// patients past the bound are hidden from the search whole (fail
	// closed); their resources read one by one are decided exactly.
	var rules []store.Clause
	var hidden []string
	for _, rule := range fl.Rules {
		cls, fits, err := e.ruleClauses(rule)
		if err != nil {
			return nil, nil, err
		}
		if !fits || len(rules)+len(cls) > MaxConsentClauses {
			hidden = append(hidden, rule.Patient)
			continue
		}
		rules = append(rules, cls...)
	}
	var out []store.Clause
	switch {
	case !fl.All:
		owners := slices.DeleteFunc(slices.Clone(fl.Patients), func(p string) bool { return slices.Contains(hidden, p) })
		oc := store.OwnerCond{Owners: owners, Tenant: fl.Tenant || len(fl.Tenants) > 0}
		if !fl.Tenant {
			oc.TenantTypes = fl.Tenants
		}
		out = append(out, store.Clause{oc})
	case len(fl.Exclude) > 0 || len(hidden) > 0:
		out = append(out, store.Clause{store.OwnerCond{Owners: append(slices.Clone(fl.Exclude), hidden...), Not: true}})
	}
	if len(fl.HideLabels) > 0 {
		none := store.NoneCond{}
		for _, l := range fl.HideLabels {
			c, err := e.labelCond(l)
			if err != nil {
				return nil, nil, err
			}
			none.Conds = append(none.Conds, c)
		}
		out = append(out, store.Clause{none})
	}
	return append(out, rules...), fl, nil
}

// MaxConsentClauses bounds the clauses consents' exceptions add to one
// search (see visible).
const MaxConsentClauses = 64

// ruleClauses are the clauses of one patient's consent exceptions: each
// holds for resources of other patients or that the exception spares.
// fits is false when they are more than one query may hold.
func (e *Engine) ruleClauses(rule access.PatientRule) (out []store.Clause, fits bool, err error) {
	other := store.OwnerCond{Owners: []string{rule.Patient}, Not: true}
	if rule.Only != nil {
		out = append(out, store.Clause{other, store.TypeCond{Types: rule.Only}})
	}
	for _, d := range rule.Deny {
		labels := d.Labels
		if len(labels) == 0 {
			labels = []access.Label{{}}
		}
		if len(out)+len(labels) > MaxConsentClauses {
			return nil, false, nil
		}
		for _, l := range labels {
			cl := store.Clause{other}
			if len(d.Types) > 0 {
				cl = append(cl, store.TypeCond{Types: d.Types, Not: true})
			}
			if l.Code != "" {
				c, err := e.labelCond(l)
				if err != nil {
					return nil, false, err
				}
				cl = append(cl, store.NotCond{Cond: c})
			}
			out = append(out, cl)
		}
	}
	return out, true, nil
}

// labelCond is the condition "carries security label l" (on the blind
// index of Resource._security). The parsed condition is kept; its index
// forms are computed again for each request (they change when the index
// key rotates).
func (e *Engine) labelCond(l access.Label) (store.Cond, error) {
	e.labelConds.mu.Lock()
	param := e.labelConds.param
	e.labelConds.mu.Unlock()
	if param == "" {
		p, ok := e.reg.Lookup("Patient", "_security")
		if !ok {
			return nil, fault.New(fault.Internal, "access conditions: no _security parameter")
		}
		param = p.Key
		e.labelConds.mu.Lock()
		e.labelConds.param = param
		e.labelConds.mu.Unlock()
	}
	// The code in any system (see access.IsRestricted), built as a
	// condition: no query syntax for a consent's codes to play with.
	enc, err := e.enc.EncodeCond(store.TokenCond{Param: param, Code: l.Code})
	if err != nil {
		return nil, cryptErr(err)
	}
	return enc, nil
}

// labelConds keeps the parameter key of _security (see labelCond).
type labelConds struct {
	mu    sync.Mutex
	param string
}

// searchPatient returns the one patient a search is about (patient=,
// subject= on a Patient, or Patient?_id=), or "": the parameter must be
// one of the type's (a lenient search ignores unknown ones).
func (e *Engine) searchPatient(typ string, params url.Values) string {
	if typ == "Patient" {
		if ids := params["_id"]; len(ids) == 1 && !strings.Contains(ids[0], ",") {
			return ids[0]
		}
		return ""
	}
	for _, name := range []string{"patient", "subject", "subject:Patient"} {
		if _, ok := e.reg.Lookup(typ, strings.TrimSuffix(name, ":Patient")); !ok {
			continue
		}
		vs := params[name]
		if len(vs) != 1 || strings.Contains(vs[0], ",") {
			continue
		}
		v := vs[0]
		if t, id, ok := strings.Cut(v, "/"); ok {
			if t == "Patient" && !strings.Contains(id, "/") {
				return id
			}
			continue
		}
		if name != "subject" {
			return v
		}
	}
	return ""
}

// ---- writes -----------------------------------------------------------------

// checkWrite decides a write of typ into owner's compartment with labels
// (the new content of a create or update).
func (e *Engine) checkWrite(ctx context.Context, in access.Interaction, typ, owner string, labels []access.Label) error {
	return e.decideWrite(ctx, in, typ, "", owner, func(*access.Reach) ([]access.Label, error) { return labels, nil })
}

// checkCurrent decides a write (update or delete) of the current version
// cur: its compartment, labels and consent.
func (e *Engine) checkCurrent(ctx context.Context, in access.Interaction, cur *store.Resource) error {
	return e.decideWrite(ctx, in, cur.Type, cur.ID, cur.Owner, func(r *access.Reach) ([]access.Label, error) {
		if r.MaySeeAllLabels() {
			return nil, nil // the labels do not matter
		}
		c := *cur // open a copy of the stored version
		if err := e.openBody(ctx, &c); err != nil {
			return nil, err
		}
		return labelsOf(c.Body), nil
	})
}

// decideWrite decides a write of typ/id in owner's compartment; labels
// gives the labels that matter to the write's reach.
func (e *Engine) decideWrite(ctx context.Context, in access.Interaction, typ, id, owner string, labels func(*access.Reach) ([]access.Label, error)) error {
	d := e.policy.Decide(ctx, &access.Request{Principal: access.PrincipalFrom(ctx), Interaction: in, ResourceType: typ, ID: id})
	if !d.Allow {
		return &denied{err: fault.New(fault.Forbidden, "access denied"), reason: d.Reason}
	}
	if d.Reach == nil {
		return nil
	}
	if err := e.writeLimits(ctx, d.Reach, typ, owner); err != nil {
		return err
	}
	reach := writeReach(d.Reach)
	f, err := e.factsFor(ctx, reach)
	if err != nil {
		return err
	}
	f.Glass = nil // writes do not use break-the-glass grants
	ls, err := labels(reach)
	if err != nil {
		return err
	}
	if v := reach.Check(f, access.Target{Type: typ, Owner: owner, Labels: ls}); !v.Allow {
		return writeRefusal(reach, v.Reason)
	}
	return nil
}

// writeLimits refuses the writes no reach allows: under a constrained
// scope (a constraint is matched on stored resources, not on what a write
// brings), and a patient's Consent by someone the patient's consents
// limit (they would lift their own restriction).
func (e *Engine) writeLimits(ctx context.Context, r *access.Reach, typ, owner string) error {
	if len(r.Constraints) > 0 {
		return &denied{err: fault.New(fault.Forbidden, "access denied: writes are not allowed under a scope with a constraint"), reason: "write under a constrained scope"}
	}
	if typ != "Consent" || !r.Consent || owner == "" {
		return nil
	}
	f, err := e.factsFor(ctx, r)
	if err != nil {
		return err
	}
	if r.ConsentLimits(f, owner) {
		return &denied{err: fault.New(fault.Forbidden, "access denied: the patient's consent limits your access, so you may not change the patient's consents"), reason: "consent change by a principal the patient's consent limits"}
	}
	return nil
}

// writeReach is the reach of a write: a patient's privacy Consent governs
// what is disclosed, not what is recorded (a result arriving for a patient
// who opted out is still filed), so it does not apply; nor does
// break-the-glass, which opens a record for reading (a write needs a
// relationship).
func writeReach(r *access.Reach) *access.Reach {
	w := *r
	w.Consent, w.BreakGlass = false, 0
	return &w
}

// writeRefusal is the refusal of a write: always 403 (a write names its
// target; see docs/access.md on update-as-create).
func writeRefusal(r *access.Reach, reason string) error {
	if restricted(r) {
		return refuse(r, reason)
	}
	return &denied{err: fault.New(fault.Forbidden, "access denied: the resource's patient, consent or security labels do not allow this write"), reason: reason}
}
