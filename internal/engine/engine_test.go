package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

// interfering wraps a store and, once armed, runs hook once just before
// an Update: the moment a concurrent writer could change what a write was
// prepared from.
type interfering struct {
	store.Store
	armed atomic.Bool
	hook  func()
}

func (s *interfering) Update(ctx context.Context, fn func(store.Tx) error) error {
	if s.armed.CompareAndSwap(true, false) {
		s.hook()
	}
	return s.Store.Update(ctx, fn)
}

type recorder struct {
	mu     sync.Mutex
	events []*audit.Event
	fail   error
}

func (r *recorder) Record(_ context.Context, ev *audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, ev)
	return nil
}

type denyAll struct{}

func (denyAll) Decide(context.Context, *access.Request) access.Decision {
	return access.Decision{Reason: "test denies everything"}
}

func newTestEngine(t *testing.T, wrap func(store.Store) store.Store, policy access.Policy, rec audit.Recorder) (*Engine, store.Store) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var s store.Store = db
	if wrap != nil {
		s = wrap(db)
	}
	reg, err := search.Default()
	if err != nil {
		t.Fatal(err)
	}
	if policy == nil {
		policy = access.Open{}
	}
	if rec == nil {
		rec = audit.Log{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	e, err := New(Config{Store: s, Registry: reg, Policy: policy, Audit: rec})
	if err != nil {
		t.Fatal(err)
	}
	return e, db
}

var local = access.WithPrincipal(context.Background(), access.Local())

func mustParse(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := fhir.ParseResource([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A conditional create prepared when nothing matched must not commit a
// duplicate when a matching resource appears before the commit.
func TestConditionalCreateRechecksInsideTheTransaction(t *testing.T) {
	var e *Engine
	var db store.Store
	var w *interfering
	e, db = newTestEngine(t, func(s store.Store) store.Store {
		w = &interfering{Store: s, hook: func() {
			// The concurrent writer: a matching patient, created directly.
			other, _ := New(Config{Store: s, Registry: e.reg, Policy: access.Open{}, Audit: &recorder{}})
			if _, err := other.Create(local, "Patient", mustParse(t, `{"resourceType":"Patient","identifier":[{"system":"s","value":"v"}]}`), ""); err != nil {
				t.Error(err)
			}
		}}
		return w
	}, nil, nil)
	w.armed.Store(true)
	res, err := e.Create(local, "Patient", mustParse(t, `{"resourceType":"Patient","identifier":[{"system":"s","value":"v"}]}`), "identifier=s|v")
	if err != nil {
		t.Fatal(err)
	}
	if !res.NoOp || res.Created {
		t.Fatalf("the second create was not turned into a match: %+v", res)
	}
	all, err := db.Search(local, &store.Query{Type: "Patient", Count: 10, Total: true})
	if err != nil || all.Total != 1 {
		t.Fatalf("%d patients, %v", all.Total, err)
	}
}

// A transaction whose conditional reference changes target between
// preparation and commit is prepared again from the client's references.
func TestTransactionRetryStartsFromTheClientReferences(t *testing.T) {
	var e *Engine
	var w *interfering
	e, _ = newTestEngine(t, func(s store.Store) store.Store {
		w = &interfering{Store: s, hook: func() {
			// The organization the reference matched is deleted, and a new
			// one with the same identifier takes its place.
			if _, err := e.Delete(local, "Organization", "org-a"); err != nil {
				t.Error(err)
			}
			if _, err := e.Update(local, "Organization", "org-b", mustParse(t, `{"resourceType":"Organization","id":"org-b","identifier":[{"system":"o","value":"1"}]}`), 0); err != nil {
				t.Error(err)
			}
		}}
		return w
	}, nil, nil)
	if _, err := e.Update(local, "Organization", "org-a", mustParse(t, `{"resourceType":"Organization","id":"org-a","identifier":[{"system":"o","value":"1"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	w.armed.Store(true)
	out, err := e.Transaction(local, mustParse(t, `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:0b1c9d1e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","managingOrganization":{"reference":"Organization?identifier=o|1"}},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Observation","status":"final","code":{"text":"t"},"subject":{"reference":"urn:uuid:0b1c9d1e-0000-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if w.armed.Load() {
		t.Fatal("the interference never ran")
	}
	pat, err := e.Read(local, "Patient", out[0].Write.Resource.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, string(pat.Body))
	if ref := p["managingOrganization"].(map[string]any)["reference"]; ref != "Organization/org-b" {
		t.Fatalf("reference %v after the retry, want Organization/org-b", ref)
	}
	obs, err := e.Read(local, "Observation", out[1].Write.Resource.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(obs.Body), `"reference":"Patient/`+pat.ID+`"`) {
		t.Fatalf("urn:uuid reference not rewritten after the retry: %s", obs.Body)
	}
}

func TestDeniedInteractionIsAuditedAndForbidden(t *testing.T) {
	rec := &recorder{}
	e, _ := newTestEngine(t, nil, denyAll{}, rec)
	_, err := e.Read(local, "Patient", "x")
	if fault.KindOf(err) != fault.Forbidden {
		t.Fatalf("error %v, want Forbidden", err)
	}
	if len(rec.events) != 1 || rec.events[0].Outcome != audit.MinorFailure || rec.events[0].Reason == "" {
		t.Fatalf("events %+v", rec.events)
	}
}

func TestAuditFailureFailsClosed(t *testing.T) {
	rec := &recorder{}
	e, _ := newTestEngine(t, nil, nil, rec)
	created, err := e.Create(local, "Patient", mustParse(t, `{"resourceType":"Patient"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	rec.fail = errors.New("disk full")
	res, err := e.Read(local, "Patient", created.Resource.ID)
	if fault.KindOf(err) != fault.Unavailable || res != nil {
		t.Fatalf("read with a failing audit log: %v %v", res, err)
	}
	if _, err := e.Search(local, "Patient", nil, SearchOptions{}); fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("search with a failing audit log: %v", err)
	}
}

func TestEveryInteractionIsAudited(t *testing.T) {
	rec := &recorder{}
	e, _ := newTestEngine(t, nil, nil, rec)
	c, err := e.Create(local, "Patient", mustParse(t, `{"resourceType":"Patient"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	id := c.Resource.ID
	e.Read(local, "Patient", id)
	e.VRead(local, "Patient", id, 1)
	e.Update(local, "Patient", id, mustParse(t, `{"resourceType":"Patient","id":"`+id+`"}`), 0)
	e.Search(local, "Patient", nil, SearchOptions{})
	e.History(local, &HistoryRequest{Type: "Patient", ID: id})
	e.Delete(local, "Patient", id)
	e.Read(local, "Patient", id) // gone: audited as a failure
	var got []string
	for _, ev := range rec.events {
		got = append(got, ev.Interaction+":"+ev.Outcome)
	}
	want := "create:0 read:0 vread:0 update:0 search-type:0 history-instance:0 delete:0 read:4"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit events\n got  %s\n want %s", strings.Join(got, " "), want)
	}
	for _, ev := range rec.events {
		if ev.Principal != "local" || ev.Type != "Patient" || ev.Reason == "" {
			t.Fatalf("event without principal, type or decision reason: %+v", ev)
		}
	}
}
