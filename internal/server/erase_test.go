package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
)

// node opens a Hestia on a data directory with an HTTP test server.
func openAt(t testing.TB, cfg Config) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := OpenNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewTLSServer(srv.Handler())
	srv.auth.SetIssuer(hs.URL)
	s := &testServer{t: t, url: hs.URL, c: hs.Client(), node: node, srv: srv, cert: hs.Certificate().Raw, storage: cfg.Storage}
	s.c.Transport = bearer{s: s, next: s.c.Transport}
	t.Cleanup(func() { hs.Close(); node.Close() })
	s.token = s.serviceToken("system/*.cruds")
	return s
}

func closeAt(s *testServer) {
	s.node.Close()
}

// TestErasureIsCryptoShreddingThatSurvivesARestore erases a patient, then
// puts back a copy of the database file taken before the erasure: once the
// ledger is applied, nothing of the patient can be read from it.
func TestErasureIsCryptoShreddingThatSurvivesARestore(t *testing.T) {
	cfg := testConfig(t)
	s := openAt(t, cfg)
	p := patient("Shredded", "Ann")
	p["telecom"] = []any{map[string]any{"system": "phone", "value": "555-0199-7731"}}
	pat := s.create(p)
	pid := pat["id"].(string)
	obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "Secret finding"},
		"subject": map[string]any{"reference": "Patient/" + pid}}
	o := s.create(obs)
	o["status"] = "amended"
	s.expect(s.do("PUT", "/Observation/"+o["id"].(string), o), http.StatusOK)
	keep := s.create(patient("Kept"))

	// A copy of the database from before the erasure (the node closed, so
	// it is complete).
	closeAt(s)
	restoreBefore := snapshotDB(t, cfg)

	s = openAt(t, cfg)
	ctx := access.WithPrincipal(context.Background(), access.Local())
	out, err := s.node.Engine.Erase(ctx, s.node.Ledger, pid)
	if err != nil {
		t.Fatal(err)
	}
	if out.Resources != 2 || out.Versions != 3 {
		t.Fatalf("erased %d resources and %d versions, want 2 and 3", out.Resources, out.Versions)
	}
	// The erasure's record committed with it (no journal wait: it is
	// in the log already), names the patient and survives the erasure.
	var erasures []*audit.Event
	s.node.DB.AuditLog(ctx, func(_ uint64, rec []byte) error {
		if ev, err := audit.Open(s.node.Keys, rec); err == nil && ev.Interaction == "erase" {
			erasures = append(erasures, ev)
		}
		return nil
	})
	if len(erasures) != 1 || erasures[0].Count != 2 || fmt.Sprint(erasures[0].Patients) != "["+pid+"]" || erasures[0].Outcome != audit.Success {
		t.Fatalf("erasure events %+v", erasures)
	}
	erased := func(s *testServer) {
		t.Helper()
		for _, path := range []string{"/Patient/" + pid, "/Observation/" + o["id"].(string)} {
			if r := s.do("GET", path, nil); r.status != http.StatusGone {
				t.Errorf("GET %s after erasure: %d", path, r.status)
			}
		}
		r := s.do("GET", "/Observation/"+o["id"].(string)+"/_history/1", nil)
		if r.status < 400 || strings.Contains(string(r.body), "Secret") {
			t.Errorf("vread after erasure: %d %s", r.status, r.body)
		}
		h := s.expect(s.do("GET", "/Observation/"+o["id"].(string)+"/_history", nil), http.StatusOK)
		if len(entries(h)) != 0 {
			t.Errorf("history after erasure returns %d bodies", len(entries(h)))
		}
		for _, q := range []string{"/Patient?family=shredded", "/Observation?subject=Patient/" + pid, "/Patient?telecom=555-0199-7731"} {
			if b := s.expect(s.do("GET", q, nil), http.StatusOK); b["total"] != float64(0) {
				t.Errorf("%s after erasure: total %v", q, b["total"])
			}
		}
		// Other patients are untouched.
		s.expect(s.do("GET", "/Patient/"+keep["id"].(string), nil), http.StatusOK)
	}
	erased(s)
	closeAt(s)
	if hits := storedHits(t, cfg, []string{"Shredded", "555-0199-7731", "Secret finding"}); len(hits) > 0 {
		t.Fatalf("after erasure, in the clear: %v", hits)
	}

	// Restore the old database. The ledger is applied on open.
	restoreBefore()
	// The audit log sees the restore as a rollback: refused, unless the
	// operator accepts it (and the log records that).
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := OpenNode(context.Background(), cfg, quiet); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("a restored older database opened without acceptance: %v", err)
	}
	cfg.AuditAcceptRollback = true
	s = openAt(t, cfg)
	erased(s)
	var accepted bool
	s.node.DB.AuditLog(ctx, func(_ uint64, rec []byte) error {
		if ev, err := audit.Open(s.node.Keys, rec); err == nil && ev.Interaction == "configure" && strings.Contains(ev.Detail, "audit_rollback_accepted") {
			accepted = true
		}
		return nil
	})
	if !accepted {
		t.Fatal("the accepted rollback is not in the audit log")
	}
	if ok, _ := s.node.Keys.HasDataKey(context.Background(), pid); ok {
		t.Fatal("the restored database still holds the patient's data key")
	}
}

// TestErasedPatientTakesNoNewData: after an erasure, a write into the
// patient's compartment (a new resource, the Patient recreated under its
// id, a transaction entry) is refused with 409 and stores nothing, where it
// used to be sealed under a fresh key that the erasure ledger destroyed at
// the next start, acknowledged data with it. Other patients are
// untouched, and the refusal holds after a restart, also for a database
// erased before erased keys were marked (the ledger marks them at open).
func TestErasedPatientTakesNoNewData(t *testing.T) {
	cfg := testConfig(t)
	s := openAt(t, cfg)
	pid := s.create(patient("Gone"))["id"].(string)
	other := s.create(patient("Stays"))["id"].(string)
	obs := func(pat string) map[string]any {
		return map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
			"subject": map[string]any{"reference": "Patient/" + pat}}
	}
	s.create(obs(pid))
	var wrapped []byte
	if err := rawDB(t, s).QueryRow(`SELECT wrapped FROM keyset WHERE name = ?`, "dek:"+pid).Scan(&wrapped); err != nil || len(wrapped) < 32 {
		t.Fatalf("the patient's wrapped data key: %d bytes, %v", len(wrapped), err)
	}
	ctx := access.WithPrincipal(context.Background(), access.Local())
	if _, err := s.node.Engine.Erase(ctx, s.node.Ledger, pid); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage == "" {
		// The wrapped key is gone from the files while the node runs: the
		// replaced row zeroed, the WAL that held it truncated.
		for _, f := range []string{DatabaseFile, DatabaseFile + "-wal"} {
			b, err := os.ReadFile(filepath.Join(cfg.DataDir, f))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if bytes.Contains(b, wrapped) {
				t.Fatalf("the destroyed data key is still in %s", f)
			}
		}
	}
	refused := func(s *testServer) {
		t.Helper()
		s.expectOutcome(s.do("POST", "/Observation", obs(pid)), http.StatusConflict)
		again := patient("Gone")
		again["id"] = pid
		s.expectOutcome(s.do("PUT", "/Patient/"+pid, again), http.StatusConflict)
		tx := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"resource": obs(other), "request": map[string]any{"method": "POST", "url": "Observation"}},
			map[string]any{"resource": obs(pid), "request": map[string]any{"method": "POST", "url": "Observation"}},
		}}
		s.expectOutcome(s.do("POST", "/", tx), http.StatusConflict)
		if b := s.expect(s.do("GET", "/Observation?subject=Patient/"+pid, nil), http.StatusOK); b["total"] != float64(0) {
			t.Errorf("Observations of the erased patient: %v", b["total"])
		}
		if r := s.do("GET", "/Patient/"+pid, nil); r.status != http.StatusGone {
			t.Errorf("GET the erased Patient: %d", r.status)
		}
		if ok, _ := s.node.Keys.HasDataKey(context.Background(), pid); ok {
			t.Error("the erased patient has a data key again")
		}
	}
	refused(s)
	// The other patient takes data; the failed transaction left nothing.
	if b := s.expect(s.do("GET", "/Observation?subject=Patient/"+other, nil), http.StatusOK); b["total"] != float64(0) {
		t.Fatalf("the refused transaction stored its first entry: total %v", b["total"])
	}
	kept := s.create(obs(other))["id"].(string)

	// The refusals were recorded as failed writes.
	failures := s.awaitEvents(3, func(ev map[string]any) bool {
		return ev["outcome"] != "0" && slices.Contains([]string{"create", "update", "transaction"}, subtype(ev))
	})
	if failures < 3 {
		t.Errorf("%d failed writes in the audit log, want the 3 refusals", failures)
	}

	// Restart: nothing acknowledged is lost, and the refusal holds.
	closeAt(s)
	s = openAt(t, cfg)
	s.expect(s.do("GET", "/Observation/"+kept, nil), http.StatusOK)
	refused(s)

	// A database erased before the mark existed holds no key under the
	// patient's name at all: the ledger marks it at the next open.
	closeAt(s)
	db := rawDBAt(t, cfg)
	exec(t, db, `DELETE FROM keyset WHERE name = ?`, "dek:"+pid)
	db.db.Close()
	s = openAt(t, cfg)
	refused(s)
	s.expect(s.do("GET", "/Observation/"+kept, nil), http.StatusOK)
}
