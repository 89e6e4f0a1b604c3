// Package audit records every interaction with Hestia. An Event names who
// did what to which resources, when, from where, with what outcome and why
// the policy allowed or refused it.
//
// Invariants:
//   - Events hold identifiers, never resource content. The one exception
//     is a search's query (BALP requires it): it goes into the sealed
//     record only, never into log lines (Log leaves it out).
//   - Record returning an error means the event is not durable; callers
//     fail the interaction (fail closed).
package audit

import (
	"context"
	"log/slog"
	"time"
)

// Outcome codes of FHIR AuditEvent.outcome.
const (
	Success      = "0"
	MinorFailure = "4"
	SeriousFail  = "8"
	MajorFailure = "12"
)

// Event is one audited interaction. Its JSON form (short names) is the
// record the log stores, sealed (see Trail); AuditEvent renders it as a
// FHIR R4 AuditEvent.
type Event struct {
	Time        time.Time `json:"t"`
	RequestID   string    `json:"rq,omitempty"`
	Principal   string    `json:"p,omitempty"`
	Address     string    `json:"ad,omitempty"`
	Interaction string    `json:"in"`
	Action      string    `json:"ac,omitempty"` // C R U D E
	Outcome     string    `json:"o"`
	Type        string    `json:"ty,omitempty"`
	ID          string    `json:"id,omitempty"`
	Version     int64     `json:"ve,omitempty"`
	Count       int       `json:"n,omitempty"` // resources returned or written
	Reason      string    `json:"re,omitempty"`
	// Role, Client and Purpose describe the agent: the principal's role,
	// the client application, and the purpose of use (a v3-ActReason code
	// such as TREAT; ETREAT for break-the-glass).
	Role       string `json:"ro,omitempty"`
	Client     string `json:"cl,omitempty"`
	Purpose    string `json:"pu,omitempty"`
	BreakGlass bool   `json:"bg,omitempty"`
	// Alert names why the event is an alert for the privacy officer
	// (AlertBreakGlass, AlertRestrictedPatient), or is empty.
	Alert string `json:"al,omitempty"`
	// Query is a search's query string as received (sealed records only).
	Query string `json:"q,omitempty"`
	// Patients are the ids of the patients whose data the interaction
	// read or changed (for a search: whose resources it returned).
	Patients []string `json:"pa,omitempty"`
	// Entries are the parts of a batch or transaction, one entity each.
	Entries []Entry `json:"en,omitempty"`
	// Scope is the scope of an access token issued (space-separated).
	Scope string `json:"sc,omitempty"`
	// Detail describes an administrative event (a configuration, as
	// setting=value pairs; never secrets).
	Detail string `json:"de,omitempty"`
	// Source is the server that observed the event (set by Trail).
	Source string `json:"s,omitempty"`
	// Recorded is set once the event is durable in the log (appended in
	// the transaction of the write it describes): it is not recorded again.
	Recorded bool `json:"-"`
}

// Entry is one part of a batch or transaction.
type Entry struct {
	Interaction string `json:"in"`
	Type        string `json:"ty,omitempty"`
	ID          string `json:"id,omitempty"`
	Version     int64  `json:"ve,omitempty"`
	Outcome     string `json:"o"`
}

// Alerts an event can raise.
const (
	AlertBreakGlass        = "break-the-glass"
	AlertRestrictedPatient = "restricted-patient" // a patient labelled for alerts (a VIP)
)

// Recorder stores events. Implementations MUST be safe for concurrent use.
type Recorder interface {
	Record(ctx context.Context, ev *Event) error
}

// Encoder is a Recorder whose records can instead be appended by the
// caller inside its own store transaction (store.Tx.AppendAudit), so that
// a write and its record commit together. Encode returns the record as it
// is stored.
type Encoder interface {
	Recorder
	Encode(ev *Event) ([]byte, error)
}

// Log writes events as structured log lines, without their query: an
// echo of what the tamper-evident log records, not durable and not
// verifiable (the attribute "durable" says so). The zero Log discards.
type Log struct{ Logger *slog.Logger }

// Record implements Recorder.
func (l Log) Record(ctx context.Context, ev *Event) error {
	if l.Logger == nil {
		return nil
	}
	l.Logger.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("request", ev.RequestID),
		slog.String("principal", ev.Principal),
		slog.String("address", ev.Address),
		slog.String("interaction", ev.Interaction),
		slog.String("action", ev.Action),
		slog.String("outcome", ev.Outcome),
		slog.String("type", ev.Type),
		slog.String("id", ev.ID),
		slog.Int64("version", ev.Version),
		slog.Int("count", ev.Count),
		slog.String("reason", ev.Reason),
		slog.Bool("durable", false),
	)
	return nil
}

var _ Recorder = Log{}
