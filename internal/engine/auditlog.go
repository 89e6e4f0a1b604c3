package engine

import (
	"context"
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// AuditLog is the stored audit log, for the interactions on it.
type AuditLog interface {
	AuditHead() (size uint64, root []byte)
	AuditNodes() tlog.Nodes
	AuditRecords(ctx context.Context, from, to uint64, fn func(index uint64, record []byte) error) error
	AuditByPatient(ctx context.Context, tag []byte, before uint64, limit int, fn func(index uint64, record []byte) error) error
}

// AuditKeys opens audit records and computes patient tags.
type AuditKeys interface {
	audit.Opener
	audit.Tagger
}

// Checkpointer signs checkpoints of the log: Latest is the last issued
// (nil before the first), Issue signs one of the log as it is now.
type Checkpointer interface {
	Latest() []byte
	Issue(ctx context.Context) ([]byte, error)
}

// AuditConfig enables the interactions on the audit log.
type AuditConfig struct {
	Log         AuditLog
	Keys        AuditKeys
	Checkpoints Checkpointer
}

// SetAuditLog enables the interactions on the audit log (checkpoints,
// proofs, event search, access reports).
func (e *Engine) SetAuditLog(c AuditConfig) { e.auditLog = c }

// auditSyncer is a log whose records reach the tree a moment after they
// are durable (PostgreSQL's queue, which one node sequences): SyncAudit
// brings this node's view of the tree up to every record committed so far.
type auditSyncer interface {
	SyncAudit(ctx context.Context) error
}

// syncAudit brings the log's tree up to date before it is read, so that a
// search or proof sees every record committed before it.
func (e *Engine) syncAudit(ctx context.Context) error {
	if s, ok := e.auditLog.Log.(auditSyncer); ok {
		if err := s.SyncAudit(ctx); err != nil {
			return fault.Wrap(fault.Unavailable, err, "the audit log cannot be read")
		}
	}
	return nil
}

func (e *Engine) auditReady(needKeys bool) error {
	if e.auditLog.Log == nil || needKeys && e.auditLog.Keys == nil || e.auditLog.Checkpoints == nil {
		return fault.New(fault.NotImplemented, "this server keeps no tamper-evident audit log")
	}
	return nil
}

// Checkpoint returns the latest signed checkpoint of the audit log (C2SP
// tlog-checkpoint). Requests never make the issuer sign one (each request
// is audited, so every request would otherwise sign and publish a new
// checkpoint); the first is signed if there is none yet.
func (e *Engine) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := e.auditReady(false); err != nil {
		return nil, err
	}
	ev, err := e.begin(ctx, access.AuditProof, "", "")
	if err != nil {
		return nil, err
	}
	cp := e.auditLog.Checkpoints.Latest()
	if cp == nil {
		if cp, err = e.auditLog.Checkpoints.Issue(ctx); err != nil {
			return nil, e.record(ctx, ev, fault.Wrap(fault.Unavailable, err, "the audit log cannot sign a checkpoint"))
		}
	}
	return cp, e.record(ctx, ev, nil)
}

// InclusionProof returns the leaf hash of record index and the proof that
// it is in the log's tree of size size (RFC 9162 section 2.1.3).
func (e *Engine) InclusionProof(ctx context.Context, index, size uint64) (leaf []byte, proof [][]byte, err error) {
	if err := e.auditReady(false); err != nil {
		return nil, nil, err
	}
	ev, err := e.begin(ctx, access.AuditProof, "", "")
	if err != nil {
		return nil, nil, err
	}
	if err := e.syncAudit(ctx); err != nil {
		return nil, nil, e.record(ctx, ev, err)
	}
	head, _ := e.auditLog.Log.AuditHead()
	if size == 0 || size > head || index >= size {
		return nil, nil, e.record(ctx, ev, fault.New(fault.Invalid, "need index < size <= %d (the log's size)", head))
	}
	hashes, err := e.auditLog.Log.AuditNodes().Nodes(ctx, []tlog.NodeID{{Level: 0, Index: index}})
	if err == nil {
		proof, err = tlog.Inclusion(ctx, e.auditLog.Log.AuditNodes(), index, size)
	}
	if err != nil {
		return nil, nil, e.record(ctx, ev, fault.Wrap(fault.Unavailable, err, "the audit log cannot be read"))
	}
	return hashes[0], proof, e.record(ctx, ev, nil)
}

// ConsistencyProof returns the proof that the log's tree of size from is
// a prefix of its tree of size to (RFC 9162 section 2.1.4).
func (e *Engine) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	if err := e.auditReady(false); err != nil {
		return nil, err
	}
	ev, err := e.begin(ctx, access.AuditProof, "", "")
	if err != nil {
		return nil, err
	}
	if err := e.syncAudit(ctx); err != nil {
		return nil, e.record(ctx, ev, err)
	}
	head, _ := e.auditLog.Log.AuditHead()
	if from == 0 || from > to || to > head {
		return nil, e.record(ctx, ev, fault.New(fault.Invalid, "need 0 < from <= to <= %d (the log's size)", head))
	}
	proof, err := tlog.Consistency(ctx, e.auditLog.Log.AuditNodes(), from, to)
	if err != nil {
		return nil, e.record(ctx, ev, fault.Wrap(fault.Unavailable, err, "the audit log cannot be read"))
	}
	return proof, e.record(ctx, ev, nil)
}

// AuditHit is an audit event found in the log, with its log index.
type AuditHit struct {
	Index uint64
	Event *audit.Event
}

// Resource is the hit as a FHIR AuditEvent resource, its id the log index.
func (h AuditHit) Resource() *audit.AuditEvent {
	ae := h.Event.AuditEvent()
	ae.ID = strconv.FormatUint(h.Index, 10)
	return ae
}

// AuditPage is a page of audit events, newest first; Before, if not zero,
// continues the search below that log index.
type AuditPage struct {
	Hits   []AuditHit
	Before uint64
}

// auditScan bounds the records one search opens (a search without a
// patient reads the log backwards); the page's Before continues it.
const auditScan = 50000

// auditQuery is a parsed AuditEvent search.
type auditQuery struct {
	patient, agent, typ, outcome, entity string
	alert                                string // "*" for any
	dates                                []dateBound
	count                                int
	before                               uint64
}

type dateBound struct {
	prefix string // eq, ge, gt, le, lt
	lo, hi time.Time
}

// parseAuditQuery reads the AuditEvent search parameters Hestia supports:
// patient, agent, date (with prefixes), type (the interaction), outcome,
// entity, alert (the privacy officer's alerts: *, break-the-glass,
// restricted-patient), _count, _before (paging).
func parseAuditQuery(params url.Values) (*auditQuery, error) {
	q := &auditQuery{count: 50, before: math.MaxUint64}
	for name, vals := range params {
		for _, v := range vals {
			switch name {
			case "patient":
				q.patient = strings.TrimPrefix(v, "Patient/")
				if !fhir.ValidID(q.patient) {
					return nil, fault.New(fault.Invalid, "patient: not a Patient id")
				}
			case "agent":
				q.agent = v
			case "type", "subtype":
				q.typ = v
			case "outcome":
				q.outcome = v
			case "entity":
				q.entity = v
			case "alert":
				if v != "*" && v != audit.AlertBreakGlass && v != audit.AlertRestrictedPatient {
					return nil, fault.New(fault.Invalid, "alert: one of *, %s, %s", audit.AlertBreakGlass, audit.AlertRestrictedPatient)
				}
				q.alert = v
			case "date":
				b, err := parseDateBound(v)
				if err != nil {
					return nil, err
				}
				q.dates = append(q.dates, b)
			case "_count":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return nil, fault.New(fault.Invalid, "_count must be a positive integer")
				}
				q.count = min(n, 1000)
			case "_before":
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, fault.New(fault.Invalid, "_before must be a log index")
				}
				q.before = n
			default:
				return nil, fault.New(fault.Invalid, "unsupported AuditEvent search parameter %q (patient, agent, date, type, outcome, entity, alert, _count)", name)
			}
		}
	}
	return q, nil
}

func parseDateBound(v string) (dateBound, error) {
	b := dateBound{prefix: "eq"}
	for _, p := range []string{"eq", "ge", "gt", "le", "lt"} {
		if rest, ok := strings.CutPrefix(v, p); ok {
			b.prefix, v = p, rest
			break
		}
	}
	for _, layout := range []struct {
		l    string
		span func(time.Time) time.Time
	}{
		{time.RFC3339Nano, func(t time.Time) time.Time { return t.Add(time.Nanosecond) }},
		{"2006-01-02T15:04:05", func(t time.Time) time.Time { return t.Add(time.Second) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	} {
		if t, err := time.Parse(layout.l, v); err == nil {
			b.lo, b.hi = t, layout.span(t)
			return b, nil
		}
	}
	return b, fault.New(fault.Invalid, "date: not a FHIR date or instant")
}

func (b dateBound) match(t time.Time) bool {
	switch b.prefix {
	case "ge":
		return !t.Before(b.lo)
	case "gt":
		return !t.Before(b.hi)
	case "le":
		return t.Before(b.hi)
	case "lt":
		return t.Before(b.lo)
	}
	return !t.Before(b.lo) && t.Before(b.hi)
}

func (q *auditQuery) match(ev *audit.Event) bool {
	if q.agent != "" && ev.Principal != q.agent && ev.Client != q.agent {
		return false
	}
	if q.typ != "" && ev.Interaction != q.typ {
		return false
	}
	if q.outcome != "" && ev.Outcome != q.outcome {
		return false
	}
	if q.alert != "" && (ev.Alert == "" || (q.alert != "*" && ev.Alert != q.alert)) {
		return false
	}
	if q.patient != "" && !slices.Contains(ev.Patients, q.patient) && !(ev.Type == "Patient" && ev.ID == q.patient) {
		return false
	}
	if q.entity != "" && !mentions(ev, q.entity) {
		return false
	}
	for _, d := range q.dates {
		if !d.match(ev.Time) {
			return false
		}
	}
	return true
}

// mentions reports whether ev names the resource ref (Type/id).
func mentions(ev *audit.Event, ref string) bool {
	typ, id, _ := strings.Cut(ref, "/")
	if ev.Type == typ && ev.ID == id {
		return true
	}
	for _, en := range ev.Entries {
		if en.Type == typ && en.ID == id {
			return true
		}
	}
	return typ == "Patient" && slices.Contains(ev.Patients, id)
}

// AuditEvents searches the audit log, newest first (administrators and
// auditors only). With a patient, the records are found through their
// patient tags; without, the log is read backwards, at most auditScan
// records per page.
func (e *Engine) AuditEvents(ctx context.Context, params url.Values) (*AuditPage, error) {
	if err := e.auditReady(true); err != nil {
		return nil, err
	}
	ev, err := e.begin(ctx, access.AuditSearch, "AuditEvent", "")
	if err != nil {
		return nil, err
	}
	ev.Query = params.Encode()
	q, err := parseAuditQuery(params)
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	page, err := e.auditSearch(ctx, q)
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	// A search about a patient is an access to that patient's record (it
	// shows in their access report); the patients of other hits are not
	// named, or every broad search would.
	ev.Count = len(page.Hits)
	if q.patient != "" {
		ev.Patients = []string{q.patient}
	}
	return page, e.record(ctx, ev, nil)
}

// AccessReport lists the audit events about a patient's data, newest
// first: who, when, what, through which application, why, and whether
// the glass was broken.
func (e *Engine) AccessReport(ctx context.Context, patient string, params url.Values) (*AuditPage, error) {
	if err := checkTypeID("Patient", patient); err != nil {
		return nil, err
	}
	if err := e.auditReady(true); err != nil {
		return nil, err
	}
	ev, err := e.begin(ctx, access.AccessReport, "Patient", patient)
	if err != nil {
		return nil, err
	}
	q, err := parseAuditQuery(params)
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	q.patient = patient
	page, err := e.auditSearch(ctx, q)
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	ev.Count, ev.Patients = len(page.Hits), []string{patient}
	if d := e.policy.Decide(ctx, &access.Request{Principal: access.PrincipalFrom(ctx), Interaction: access.AuditSearch}); !d.Allow {
		// The patient's own report: what concerns them, not what the
		// same events say of others (other patients, the query, the
		// policy's reasons, network addresses).
		for i, h := range page.Hits {
			page.Hits[i].Event = forPatient(h.Event, patient)
		}
	}
	return page, e.record(ctx, ev, nil)
}

// forPatient is the view of an event in a patient's own access report.
func forPatient(ev *audit.Event, patient string) *audit.Event {
	c := *ev
	c.Patients = []string{patient}
	c.Query, c.Detail, c.Reason, c.Address, c.Entries, c.Count, c.Scope = "", "", "", "", nil, 0, ""
	return &c
}

func (e *Engine) auditSearch(ctx context.Context, q *auditQuery) (*AuditPage, error) {
	if err := e.syncAudit(ctx); err != nil {
		return nil, err
	}
	page := &AuditPage{}
	var openErr error
	// consider adds a matching event, and reports a full page.
	consider := func(i uint64, ev *audit.Event) bool {
		if q.match(ev) {
			page.Hits = append(page.Hits, AuditHit{Index: i, Event: ev})
		}
		if len(page.Hits) == q.count {
			page.Before = i
			return true
		}
		return false
	}
	scanned := uint64(0)
	take := func(i uint64, rec []byte) error {
		if scanned++; scanned > auditScan {
			page.Before = i + 1
			return errStop
		}
		ev, err := audit.Open(e.auditLog.Keys, rec)
		if err != nil {
			openErr = err
			return errStop
		}
		if consider(i, ev) {
			return errStop
		}
		return nil
	}
	lg := e.auditLog.Log
	if q.patient != "" {
		tag, err := e.auditLog.Keys.AuditTag(q.patient)
		if err != nil {
			return nil, fault.Wrap(fault.Unavailable, err, "the audit key is unavailable")
		}
		err = lg.AuditByPatient(ctx, tag, q.before, 0, take)
		if err != nil && !errors.Is(err, errStop) {
			return nil, fault.Wrap(fault.Unavailable, err, "the audit log cannot be read")
		}
	} else {
		head, _ := lg.AuditHead()
		to := min(q.before, head)
		for to > 0 && len(page.Hits) < q.count {
			if scanned >= auditScan {
				page.Before = to
				break
			}
			from := to - min(to, 512)
			var window []AuditHit
			var werr error
			err := lg.AuditRecords(ctx, from, to, func(i uint64, rec []byte) error {
				ev, err := audit.Open(e.auditLog.Keys, rec)
				if err != nil {
					werr = err
					return errStop
				}
				window = append(window, AuditHit{Index: i, Event: ev})
				return nil
			})
			if werr != nil {
				openErr = werr
				break
			}
			if err != nil {
				return nil, fault.Wrap(fault.Unavailable, err, "the audit log cannot be read")
			}
			for k := len(window) - 1; k >= 0; k-- {
				if consider(window[k].Index, window[k].Event) {
					break
				}
			}
			scanned += to - from
			to = from
		}
	}
	if openErr != nil {
		return nil, fault.Wrap(fault.Unavailable, openErr, "an audit record does not open")
	}
	return page, nil
}

var errStop = errors.New("stop")
