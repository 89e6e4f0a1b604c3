package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

type clearSeal struct{}

func (clearSeal) SealAudit(r []byte) ([]byte, error) { return r, nil }

type clearOpen struct{}

func (clearOpen) OpenAudit(r []byte) ([]byte, error) { return r, nil }

// appender stands for the log's own transactions (reads, failures); when
// down, only records appended inside a write's transaction can commit.
type appender struct {
	db   *sqlite.DB
	down bool
}

func (a *appender) AppendAudit(ctx context.Context, records ...[]byte) error {
	if a.down {
		return errors.New("audit log unavailable")
	}
	_, err := a.db.AppendAudit(ctx, records...)
	return err
}

func trailEngine(t *testing.T) (*Engine, *sqlite.DB, *appender) {
	t.Helper()
	app := &appender{}
	e, s := newTestEngine(t, nil, nil, audit.Trail{Log: app, Seal: clearSeal{}, Source: "test"})
	app.db = s.(*sqlite.DB)
	return e, app.db, app
}

func logged(t *testing.T, db *sqlite.DB) []map[string]any {
	t.Helper()
	size, _ := db.AuditHead()
	var out []map[string]any
	db.AuditRecords(context.Background(), 0, size, func(_ uint64, rec []byte) error {
		e, err := audit.Open(clearOpen{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(e.AuditEvent())
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
		return nil
	})
	return out
}

func summary(ev map[string]any) string {
	st := ev["subtype"].([]any)[0].(map[string]any)["code"].(string)
	return st + ":" + ev["outcome"].(string)
}

// A write's AuditEvent is appended in the write's own transaction: with the
// log's separate appends down, writes still commit with their records, and
// every read fails as unavailable (fail closed) instead of going unrecorded.
func TestWriteRecordsCommitWithTheWrite(t *testing.T) {
	e, db, app := trailEngine(t)
	app.down = true
	w, err := e.Create(local, "Patient", mustParse(t, `{"resourceType":"Patient","name":[{"family":"Intx"}]}`), "")
	if err != nil {
		t.Fatalf("create with only in-transaction appends available: %v", err)
	}
	id := w.Resource.ID
	if _, err := e.Transaction(local, mustParse(t, `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","active":false},"request":{"method":"POST","url":"Patient"}}]}`)); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if _, err := e.Read(local, "Patient", id); fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("read with the audit log down: %v, want unavailable", err)
	}
	evs := logged(t, db)
	if len(evs) != 2 || summary(evs[0]) != "create:0" || summary(evs[1]) != "transaction:0" {
		t.Fatalf("log %v", evs)
	}
	if ref := evs[0]["entity"].([]any)[0].(map[string]any)["what"].(map[string]any)["reference"]; ref != "Patient/"+id+"/_history/1" {
		t.Fatalf("create event names %v", ref)
	}
	if n := evs[1]["entity"].([]any)[0].(map[string]any)["detail"].([]any)[0].(map[string]any)["valueString"]; n != "2" {
		t.Fatalf("transaction event counts %v", n)
	}

	// A write that fails leaves its failure in the log, not a success.
	app.down = false
	if _, err := e.Update(local, "Patient", id, mustParse(t, `{"resourceType":"Patient","id":"`+id+`"}`), 7); err == nil {
		t.Fatal("an update with a stale If-Match succeeded")
	}
	if _, err := e.Read(local, "Patient", id); err != nil {
		t.Fatal(err)
	}
	evs = logged(t, db)
	if len(evs) != 4 || summary(evs[2]) != "update:4" || summary(evs[3]) != "read:0" {
		var got []string
		for _, ev := range evs {
			got = append(got, summary(ev))
		}
		t.Fatalf("log %v", got)
	}
}

// Administrative operations are decided by the policy and audited with
// what they changed; a refused one does not run.
func TestAdminister(t *testing.T) {
	rec := &recorder{}
	e, _ := newTestEngine(t, nil, nil, rec)
	n, err := e.Administer(local, access.KeyRotation, func() (int, error) { return 7, nil })
	if err != nil || n != 7 {
		t.Fatalf("administer: %d %v", n, err)
	}
	boom := errors.New("boom")
	if _, err := e.Administer(local, access.Reindex, func() (int, error) { return 2, boom }); !errors.Is(err, boom) {
		t.Fatalf("a failing operation: %v", err)
	}
	if len(rec.events) != 2 {
		t.Fatalf("%d events", len(rec.events))
	}
	if ev := rec.events[0]; ev.Interaction != "key-rotation" || ev.Action != "E" || ev.Outcome != audit.Success || ev.Count != 7 {
		t.Fatalf("event %+v", ev)
	}
	if ev := rec.events[1]; ev.Interaction != "reindex" || ev.Outcome != audit.SeriousFail || ev.Count != 2 {
		t.Fatalf("event of a failure %+v", ev)
	}

	denied := &recorder{}
	e, _ = newTestEngine(t, nil, denyAll{}, denied)
	ran := false
	if _, err := e.Administer(local, access.KeyRotation, func() (int, error) { ran = true; return 0, nil }); fault.KindOf(err) != fault.Forbidden || ran {
		t.Fatalf("refused operation: %v, ran %v", err, ran)
	}
	if len(denied.events) != 1 || denied.events[0].Outcome != audit.MinorFailure {
		t.Fatalf("refusal not audited: %+v", denied.events)
	}
}
