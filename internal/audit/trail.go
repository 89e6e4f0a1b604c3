package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hestiahealth/hestia/internal/store"
)

// Appender stores records durably in the tamper-evident log: it returns
// nil once they are durable (they may get their log indices later, in
// the order they were made durable).
type Appender interface {
	AppendAudit(ctx context.Context, records ...[]byte) error
}

// Sealer seals a record with the audit key.
type Sealer interface {
	SealAudit(record []byte) ([]byte, error)
}

// Tagger computes the blind index of a patient in audit records.
type Tagger interface {
	AuditTag(patient string) ([]byte, error)
}

// Trail records events as sealed FHIR AuditEvents in the tamper-evident
// log: Record returns once the record is durable, and an error otherwise,
// which fails the interaction.
type Trail struct {
	Log    Appender
	Seal   Sealer
	Tags   Tagger // nil: records name no patients for lookup
	Source string // the server's name in AuditEvent.source.observer
}

// Record implements Recorder.
func (t Trail) Record(ctx context.Context, ev *Event) error {
	sealed, err := t.Encode(ev)
	if err != nil {
		return err
	}
	if err := t.Log.AppendAudit(ctx, sealed); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Encode implements Encoder: the event's record (its JSON form, with the
// source), sealed, in a record envelope with the tags of the patients it
// names (store.PackAuditRecord).
func (t Trail) Encode(ev *Event) ([]byte, error) {
	e := *ev
	e.Source = t.Source
	body, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	sealed, err := t.Seal.SealAudit(body)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var tags [][]byte
	if t.Tags != nil {
		for i, p := range ev.Patients {
			if slices.Contains(ev.Patients[:i], p) {
				continue
			}
			tag, err := t.Tags.AuditTag(p)
			if err != nil {
				return nil, fmt.Errorf("audit: %w", err)
			}
			tags = append(tags, tag)
		}
	}
	rec, err := store.PackAuditRecord(tags, sealed)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return rec, nil
}

var _ Encoder = Trail{}

// Opener opens records sealed with the audit key.
type Opener interface {
	OpenAudit(sealed []byte) ([]byte, error)
}

// Open returns the event a stored record holds (store.PackAuditRecord of
// a sealed Event).
func Open(o Opener, record []byte) (*Event, error) {
	_, sealed, err := store.UnpackAuditRecord(record)
	if err != nil {
		return nil, err
	}
	body, err := o.OpenAudit(sealed)
	if err != nil {
		return nil, fmt.Errorf("audit: open record: %w", err)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("audit: decode record: %w", err)
	}
	return &ev, nil
}
