package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
)

type memLog struct {
	records [][]byte
	fail    error
}

func (m *memLog) AppendAudit(_ context.Context, records ...[]byte) error {
	if m.fail != nil {
		return m.fail
	}
	m.records = append(m.records, records...)
	return nil
}

type xorSeal struct{ fail error }

func (s xorSeal) SealAudit(r []byte) ([]byte, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return append([]byte("sealed:"), r...), nil
}

// Record stores the event sealed, and fails when sealing or storing does.
func TestTrail(t *testing.T) {
	log := &memLog{}
	tr := Trail{Log: log, Seal: xorSeal{}, Source: "node-1"}
	ev := &Event{Time: time.Now(), Interaction: "read", Action: "R", Outcome: Success, Type: "Patient", ID: "p1"}
	if err := tr.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(log.records) != 1 || !bytes.HasPrefix(log.records[0], []byte("\x01\x00sealed:{\"t\":")) || !bytes.Contains(log.records[0], []byte(`"ty":"Patient","id":"p1"`)) || !bytes.Contains(log.records[0], []byte(`"s":"node-1"`)) {
		t.Fatalf("stored %q", log.records)
	}
	down := errors.New("disk full")
	if err := (Trail{Log: &memLog{fail: down}, Seal: xorSeal{}}).Record(context.Background(), ev); !errors.Is(err, down) {
		t.Fatalf("a log that fails: %v", err)
	}
	if err := (Trail{Log: log, Seal: xorSeal{fail: down}}).Record(context.Background(), ev); !errors.Is(err, down) || len(log.records) != 1 {
		t.Fatalf("a sealer that fails: %v, %d records", err, len(log.records))
	}
}

type prefixTags struct{}

func (prefixTags) AuditTag(p string) ([]byte, error) {
	return []byte(fmt.Sprintf("%-16s", "tag-"+p)), nil
}

// A record carries one tag per patient the event names.
func TestTrailTagsPatients(t *testing.T) {
	log := &memLog{}
	tr := Trail{Log: log, Seal: xorSeal{}, Tags: prefixTags{}}
	ev := &Event{Time: time.Now(), Interaction: "search-type", Type: "Observation", Patients: []string{"p1", "p2", "p1"}}
	if err := tr.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	tags, sealed, err := store.UnpackAuditRecord(log.records[0])
	if err != nil || len(tags) != 2 || string(tags[0]) != "tag-p1          " || string(tags[1]) != "tag-p2          " {
		t.Fatalf("tags %q, %v", tags, err)
	}
	if !bytes.HasPrefix(sealed, []byte("sealed:")) {
		t.Fatalf("sealed part %q", sealed)
	}
}

type prefixOpen struct{}

func (prefixOpen) OpenAudit(s []byte) ([]byte, error) {
	b, ok := bytes.CutPrefix(s, []byte("sealed:"))
	if !ok {
		return nil, errors.New("not sealed")
	}
	return b, nil
}

// A stored record opens to the event that was recorded, with its source.
func TestOpenRecord(t *testing.T) {
	log := &memLog{}
	tr := Trail{Log: log, Seal: xorSeal{}, Tags: prefixTags{}, Source: "node-1"}
	ev := &Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), RequestID: "r", Principal: "u", Interaction: "transaction", Action: "E",
		Outcome: Success, Count: 2, Query: "a=b", Patients: []string{"p1"}, BreakGlass: true, Purpose: "ETREAT",
		Entries: []Entry{{Interaction: "create", Type: "Patient", ID: "p1", Version: 1, Outcome: Success}}}
	if err := tr.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got, err := Open(prefixOpen{}, log.records[0])
	if err != nil {
		t.Fatal(err)
	}
	want := *ev
	want.Source = "node-1"
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("opened\n%+v\nwant\n%+v", *got, want)
	}
	if _, err := Open(prefixOpen{}, []byte("\x01\x00garbage")); err == nil {
		t.Fatal("a record that does not open was decoded")
	}
}
