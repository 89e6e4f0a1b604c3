// Package engine carries out FHIR interactions — read, vread, create,
// update, delete and their conditional forms, search, history, batch and
// transaction — on a store. It is independent of HTTP: internal/rest calls
// it for the REST API and the hestia command calls it for import.
//
// Invariants:
//   - Every interaction is first described to the access policy (one
//     place: decide) and ends with an audit event (one place: record);
//     a denial or an audit failure fails the interaction (fail closed).
//   - What a data interaction reaches is decided on the data: each
//     resource read or replaced and each write's new content by its
//     Reach (access.go), each search by conditions in the store's query
//     (store.Query.Visible), never by filtering results afterwards; the
//     facts the policy decides from are gathered here, from the store.
//   - Every resource written is validated against the R4 definitions,
//     carries server-assigned meta.versionId and meta.lastUpdated, and is
//     indexed through the search Encoder in the same store transaction.
//   - Writes are prepared outside the store's single writer and verified
//     inside it (optimistic concurrency): a version or conditional match
//     that changed in between makes the whole write retry, so a write never
//     commits on stale assumptions.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
)

// Config wires an Engine.
type Config struct {
	Store    store.Store
	Registry *search.Registry
	Encoder  search.Encoder // nil: search.Plain
	Policy   access.Policy  // required
	Audit    audit.Recorder // required
	// Keys seals bodies at rest. Nil stores them in the clear: only tests
	// and the benchmark-only plaintext build leave it out.
	Keys   Sealer
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// MaxBundleEntries caps batch and transaction size (default 10,000).
	MaxBundleEntries int
}

// Engine executes interactions. It is safe for concurrent use.
type Engine struct {
	store   store.Store
	reg     *search.Registry
	enc     search.Encoder
	policy  access.Policy
	audit   audit.Recorder
	keys    Sealer
	log     *slog.Logger
	now     func() time.Time
	maxEnts int

	auditLog AuditConfig // the interactions on the audit log (auditlog.go)

	facts factCache   // what the policy decides from (access.go)
	glass glassGrants // break-the-glass grants in force

	labelConds labelConds
}

// New returns an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.Policy == nil || cfg.Audit == nil {
		return nil, errors.New("engine: Store, Registry, Policy and Audit are required")
	}
	e := &Engine{
		store: cfg.Store, reg: cfg.Registry, enc: cfg.Encoder, policy: cfg.Policy, audit: cfg.Audit, keys: cfg.Keys,
		log: cfg.Logger, now: cfg.Now, maxEnts: cfg.MaxBundleEntries,
	}
	if e.enc == nil {
		e.enc = search.Plain
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.maxEnts <= 0 {
		e.maxEnts = 10000
	}
	return e, nil
}

// Registry returns the search parameter registry.
func (e *Engine) Registry() *search.Registry { return e.reg }

// Resource is a resource version as the engine returns it.
type Resource = store.Resource

// ETag returns the weak ETag of a version.
func ETag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

type requestIDKey struct{}

// WithRequestID returns a context carrying the request id for the audit log.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// begin starts an interaction: the one place where it is handed to the
// policy decision point. It returns the interaction's audit event, carrying
// the reason of the decision; a denial is audited here and returned as
// Forbidden.
func (e *Engine) begin(ctx context.Context, in access.Interaction, typ, id string) (*audit.Event, error) {
	ev, _, err := e.decide(ctx, in, typ, id)
	return ev, err
}

// authorize asks the policy about a part of an interaction (a transaction
// entry); a denial is audited and returned as Forbidden.
func (e *Engine) authorize(ctx context.Context, in access.Interaction, typ, id string) error {
	_, err := e.begin(ctx, in, typ, id)
	return err
}

func (e *Engine) event(ctx context.Context, in access.Interaction, typ, id string) *audit.Event {
	ev := &audit.Event{
		Time:        e.now().UTC(),
		RequestID:   RequestID(ctx),
		Interaction: string(in),
		Action:      actionOf(in),
		Outcome:     audit.Success,
		Type:        typ,
		ID:          id,
	}
	if p := access.PrincipalFrom(ctx); p != nil {
		ev.Principal, ev.Client = p.ID, p.Client
		if p.Address.IsValid() {
			ev.Address = p.Address.String()
		}
	}
	return ev
}

func actionOf(in access.Interaction) string {
	switch in {
	case access.Create, access.Import:
		return "C"
	case access.Update:
		return "U"
	case access.Delete, access.Erase:
		return "D"
	case access.Batch, access.Transaction, access.KeyRotation, access.Reindex,
		access.Token, access.TokenRevoke, access.TokenIntrospect, access.Authenticate, access.Login, access.Logout, access.ClientRegistration, access.UserAdministration,
		access.PasswordChange, access.MFAEnrolment, access.RecoveryCode, access.Consent:
		return "E"
	}
	return "R"
}

// committer is told of events whose records committed with their write
// (a recorder that also echoes events, for the command-line tools).
type committer interface {
	Committed(ctx context.Context, ev *audit.Event)
}

// record writes the audit event of a finished interaction. err is the
// interaction's own error (nil on success); if the event cannot be
// recorded the interaction fails with Unavailable whatever it did.
func (e *Engine) record(ctx context.Context, ev *audit.Event, err error) error {
	if ev.Recorded {
		if err == nil {
			if c, ok := e.audit.(committer); ok {
				c.Committed(ctx, ev)
			}
			return nil
		}
		// The interaction failed after its record committed (only work
		// outside the transaction can): record the failure too.
		ev.Recorded = false
	}
	var d *denied
	if errors.As(err, &d) {
		ev.Reason += "; denied: " + d.reason
	}
	if err != nil {
		switch fault.KindOf(err) {
		case fault.Invalid, fault.NotFound, fault.Gone, fault.Conflict, fault.PreconditionFailed, fault.Unprocessable, fault.Forbidden:
			ev.Outcome = audit.MinorFailure
		default:
			ev.Outcome = audit.SeriousFail
		}
	}
	if aerr := e.audit.Record(ctx, ev); aerr != nil {
		e.log.ErrorContext(ctx, "audit record failed", slog.String("request", ev.RequestID), slog.String("error", aerr.Error()))
		return fault.Wrap(fault.Unavailable, aerr, "the audit log is unavailable")
	}
	return err
}

// Administer runs an administrative operation on the whole store (a key
// rotation, a re-index): decided by the policy like any interaction, and
// audited with the number of items fn reports it changed, or its failure.
func (e *Engine) Administer(ctx context.Context, in access.Interaction, fn func() (int, error)) (int, error) {
	ev, err := e.begin(ctx, in, "", "")
	if err != nil {
		return 0, err
	}
	n, err := fn()
	ev.Count = n
	return n, e.record(ctx, ev, err)
}

// Configured records the configuration a server starts with (setting=value
// pairs, no secrets): configuration changes show in the log as the
// difference between two starts.
func (e *Engine) Configured(ctx context.Context, detail string) error {
	ev, err := e.begin(ctx, access.Configure, "", "")
	if err != nil {
		return err
	}
	ev.Action, ev.Detail = "E", detail
	return e.record(ctx, ev, nil)
}

// Authenticated records an authentication event (a token issued or
// refused, a revocation, a bearer token refused, a sign-in): who (subject,
// else the request's principal), through which client, with which scopes,
// and failure, a fixed code, when it was refused. It is not a decision of
// the policy: it records one of the authentication services. An error
// means the event is not durable and the operation must fail.
func (e *Engine) Authenticated(ctx context.Context, in access.Interaction, subject, client, scope, failure string) error {
	ev := e.event(ctx, in, "", "")
	if subject != "" {
		ev.Principal = subject
	}
	ev.Client, ev.Scope = client, scope
	if failure != "" {
		ev.Outcome, ev.Reason = audit.MinorFailure, failure
	}
	return e.record(ctx, ev, nil)
}

// sealer returns seal, which sets ev's detail and encodes ev into a record
// for the caller to append in its own store transaction (nil with a
// recorder that cannot encode: the benchmark build), and sealed, which
// reports whether seal made a record.
func (e *Engine) sealer(ev *audit.Event) (seal func(detail string) ([]byte, error), sealed func() bool) {
	enc, inTx := e.audit.(audit.Encoder)
	made := false
	seal = func(detail string) ([]byte, error) {
		ev.Detail = detail
		if !inTx {
			return nil, nil
		}
		rec, err := enc.Encode(ev)
		if err != nil {
			return nil, fault.Wrap(fault.Unavailable, err, "the audit log is unavailable")
		}
		made = true
		return rec, nil
	}
	return seal, func() bool { return made }
}

// AdministerRecorded is Administer for an operation that writes in its own
// store transaction (detail says what is asked, for the record of a
// refusal or failure): fn gets seal, which encodes the interaction's event
// with detail (what it did to what) into a record for fn to append in that
// transaction, so the change and its record commit together or not at all.
// With a recorder that cannot encode (the benchmark build) seal returns nil
// and the event is recorded after fn, as Administer does.
func (e *Engine) AdministerRecorded(ctx context.Context, in access.Interaction, detail string, fn func(seal func(detail string) ([]byte, error)) error) error {
	ev, err := e.begin(ctx, in, "", "")
	if err != nil {
		return err
	}
	ev.Detail = detail // what was asked, if fn fails before it seals
	seal, sealed := e.sealer(ev)
	err = fn(seal)
	if err == nil && sealed() {
		ev.Recorded = true
	}
	return e.record(ctx, ev, err)
}

// AccountChangeRecorded records a change to an account that no
// administrator made by hand (an external provider's roles applied at
// sign-in), atomically: fn gets seal, which encodes the event (the account
// as principal, what changed as detail, no secrets) for fn to append in the
// change's own transaction; without a subject the request's principal
// stands. Not a decision of the policy.
func (e *Engine) AccountChangeRecorded(ctx context.Context, in access.Interaction, subject string, fn func(seal func(detail string) ([]byte, error)) error) error {
	ev := e.event(ctx, in, "", "")
	if subject != "" {
		ev.Principal = subject
	}
	seal, _ := e.sealer(ev)
	err := fn(seal)
	if err == nil {
		// Recorded with the change, or nothing changed (nothing to record).
		return nil
	}
	return e.record(ctx, ev, err)
}

// newID returns a server-assigned logical id: a time-ordered UUID, which
// keeps the (type, id) index append-mostly.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// storeErr maps store errors to categories.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fault.Wrap(fault.NotFound, err, "%s not found", what)
	case errors.Is(err, store.ErrConflict):
		return fault.Wrap(fault.Conflict, err, "%s was changed concurrently; retry", what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fault.Wrap(fault.Unavailable, err, "request cancelled")
	case errors.Is(err, store.ErrClosed):
		return fault.Wrap(fault.Unavailable, err, "the server is shutting down")
	case errors.Is(err, store.ErrInvalidText):
		return fault.Wrap(fault.Invalid, err, "a value contains a NUL character or invalid UTF-8")
	case errors.Is(err, store.ErrTooCostly):
		return fault.Wrap(fault.Invalid, err, "the %s matches too many resources to check or sort one by one; add conditions that narrow it, or sort by _lastUpdated or _id", what)
	}
	if _, ok := fault.As(err); ok {
		return err
	}
	return fault.Wrap(fault.Internal, err, "storage error")
}

// owners appends to ps the patients (compartment owners) of rs that it
// does not hold yet: the patients whose data an interaction touched.
func owners(ps []string, rs ...*store.Resource) []string {
	for _, r := range rs {
		if r != nil && r.Owner != "" && !slices.Contains(ps, r.Owner) {
			ps = append(ps, r.Owner)
		}
	}
	return ps
}
