package audit

import (
	"context"
	"encoding/json"
	"fmt"
)

// Appender stores records durably in the tamper-evident log and returns
// the index of the first once they are durable.
type Appender interface {
	AppendAudit(ctx context.Context, records ...[]byte) (uint64, error)
}

// Sealer seals a record with the audit key.
type Sealer interface {
	SealAudit(record []byte) ([]byte, error)
}

// Trail records events as sealed FHIR AuditEvents in the tamper-evident
// log: Record returns once the record is durable, and an error otherwise,
// which fails the interaction.
type Trail struct {
	Log    Appender
	Seal   Sealer
	Source string // the server's name in AuditEvent.source.observer
}

// Record implements Recorder.
func (t Trail) Record(ctx context.Context, ev *Event) error {
	body, err := json.Marshal(ev.AuditEvent(t.Source))
	if err != nil {
		return fmt.Errorf("audit: encode event: %w", err)
	}
	sealed, err := t.Seal.SealAudit(body)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := t.Log.AppendAudit(ctx, sealed); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

var _ Recorder = Trail{}
