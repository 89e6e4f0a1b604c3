// Package audit records every interaction with Hestia. An Event names who
// did what to which resources, when, from where, with what outcome and why
// the policy allowed or refused it.
//
// Invariants:
//   - Events hold identifiers, never resource content or search values.
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

// Event is one audited interaction.
type Event struct {
	Time        time.Time
	RequestID   string
	Principal   string
	Address     string
	Interaction string
	Action      string // C R U D E
	Outcome     string
	Type        string
	ID          string
	Version     int64
	Count       int // resources returned or written
	Reason      string
	// Recorded is set once the event is durable in the log (appended in
	// the transaction of the write it describes): it is not recorded again.
	Recorded bool
}

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

// Log writes events as structured log lines. It is the recorder until the
// tamper-evident log takes its place: events are not yet durable or
// verifiable, and say so in their log attribute "durable".
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
