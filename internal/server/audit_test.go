package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/checkpoint"
	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/store"
)

// auditEvents waits until the log holds at least n records and returns
// them opened, in log order.
func (s *testServer) auditEvents(n uint64) []map[string]any {
	s.t.Helper()
	db := s.node.DB
	deadline := time.Now().Add(5 * time.Second)
	for {
		if size, _ := db.AuditHead(); size >= n {
			break
		}
		if time.Now().After(deadline) {
			size, _ := db.AuditHead()
			s.t.Fatalf("the audit log has %d records, want %d", size, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var out []map[string]any
	err := db.AuditLog(context.Background(), func(_ uint64, rec []byte) error {
		_, sealed, err := store.UnpackAuditRecord(rec)
		if err != nil {
			return err
		}
		if bytes.Contains(sealed, []byte(`"in":`)) {
			return fmt.Errorf("a record is stored in the clear")
		}
		e, err := audit.Open(s.node.Keys, rec)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(e.AuditEvent())
		var ev map[string]any
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// awaitEvents waits until the log holds at least n events that match
// (records that go through the journal reach the log within a batch) and
// returns how many it holds.
func (s *testServer) awaitEvents(n int, match func(ev map[string]any) bool) int {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		size, _ := s.node.DB.AuditHead()
		got := 0
		for _, ev := range s.auditEvents(size) {
			if match(ev) {
				got++
			}
		}
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func subtype(ev map[string]any) string {
	return ev["subtype"].([]any)[0].(map[string]any)["code"].(string)
}

// entityRefs lists the references of an event's entities.
func entityRefs(ev map[string]any) []string {
	var out []string
	for _, e := range ev["entity"].([]any) {
		if w, ok := e.(map[string]any)["what"].(map[string]any); ok {
			if r, ok := w["reference"].(string); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

// Every interaction leaves one sealed AuditEvent in the log, in order,
// naming what it touched and the patients whose data it was; the log
// verifies.
func TestEveryInteractionIsAudited(t *testing.T) {
	s := newTestServer(t)
	before, _ := s.node.DB.AuditHead() // what opening the node recorded
	p := s.create(patient("Auditfamily", "Ann"))
	pid := p["id"].(string)
	s.expect(s.do("GET", "/Patient/"+pid, nil), 200)
	s.expect(s.do("GET", "/Patient/"+pid+"/_history/1", nil), 200)
	p["active"] = true
	s.expect(s.do("PUT", "/Patient/"+pid, p), 200)
	s.expect(s.do("GET", "/Patient?family=Auditfamily", nil), 200)
	s.expect(s.do("GET", "/Patient/"+pid+"/_history", nil), 200)
	s.expect(s.do("POST", "/", map[string]any{
		"resourceType": "Bundle", "type": "transaction",
		"entry": []any{
			map[string]any{"resource": map[string]any{"resourceType": "Observation", "status": "final",
				"code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/" + pid}},
				"request": map[string]any{"method": "POST", "url": "Observation"}},
		},
	}), 200)
	s.expectOutcome(s.do("GET", "/Patient/no-such-id", nil), 404)
	s.expect(s.do("DELETE", "/Patient/"+pid, nil), 204)

	// The test server's token was issued while it opened: its event may
	// not be counted in before yet.
	var events []map[string]any
	for _, ev := range s.auditEvents(before + 9)[before:] {
		if subtype(ev) != "token" {
			events = append(events, ev)
		}
	}
	var got []string
	for _, ev := range events {
		got = append(got, subtype(ev)+":"+ev["outcome"].(string))
	}
	want := "[create:0 read:0 vread:0 update:0 search-type:0 history-instance:0 transaction:0 read:4 delete:0]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	patientRef := "Patient/" + pid
	for i, ev := range events {
		if i == 7 {
			continue // the read of nothing names no patient
		}
		if refs := entityRefs(ev); !slices.Contains(refs, patientRef) {
			t.Errorf("%s names %v, not %s", subtype(ev), refs, patientRef)
		}
	}
	// The search keeps its query (sealed), as BALP asks.
	var query string
	for _, e := range events[4]["entity"].([]any) {
		if q, ok := e.(map[string]any)["query"].(string); ok {
			query = q
		}
	}
	if b, _ := base64.StdEncoding.DecodeString(query); string(b) != "family=Auditfamily" {
		t.Errorf("search query entity %q", query)
	}
	// The transaction names its written entry.
	if refs := entityRefs(events[6]); !strings.Contains(strings.Join(refs, " "), "Observation/") {
		t.Errorf("transaction entities %v", refs)
	}
	// The records are found by patient without opening them.
	tag, err := s.node.Keys.AuditTag(pid)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	s.node.DB.AuditByPatient(context.Background(), tag, math.MaxUint64, 0, func(uint64, []byte) error { n++; return nil })
	if n != 8 {
		for _, ev := range events {
			t.Logf("%s %v", subtype(ev), entityRefs(ev))
		}
		t.Errorf("%d records found by the patient's tag, want 8", n)
	}
	if _, err := tlog.Verify(context.Background(), s.node.DB.AuditLog, s.node.DB.AuditNodes(), nil); err != nil {
		t.Fatal(err)
	}
	// No search value or name in the database files in the clear.
	for _, f := range []string{DatabaseFile, DatabaseFile + "-wal"} {
		b, _ := os.ReadFile(filepath.Join(s.node.Dir, f))
		if bytes.Contains(b, []byte("Auditfamily")) {
			t.Errorf("%s holds the searched name in the clear", f)
		}
	}
}

// When the audit log cannot be written, reads, searches and writes answer
// 503 with no data and store nothing; they recover when it can again.
// The fault: a row squatting the next log index, inserted through a second
// connection to the database.
func TestAuditFailureFailsClosed(t *testing.T) {
	s := newTestServer(t)
	p := s.create(patient("Closedfamily", "Cy"))
	pid := p["id"].(string)
	// The fault: on SQLite a stray row where the next record goes, so the
	// log cannot store; on PostgreSQL the queue every record enters first
	// is gone.
	other := rawDB(t, s)
	breakLog, repairLog := `INSERT INTO audit_record (idx, record) VALUES (?, x'00')`, `DELETE FROM audit_record WHERE idx = ?`
	head, _ := s.node.DB.AuditHead()
	args := []any{head}
	if other.pg {
		breakLog, repairLog, args = `ALTER TABLE audit_queue RENAME TO audit_queue_gone`, `ALTER TABLE audit_queue_gone RENAME TO audit_queue`, nil
	}
	if _, err := other.Exec(breakLog, args...); err != nil {
		t.Fatal(err)
	}
	// A read's record is durable in the journal at once; the log fails
	// to store it moments later, and from then on everything is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := s.do("GET", "/Patient/"+pid, nil)
		if r.status == http.StatusServiceUnavailable {
			break
		}
		if r.status != 200 || time.Now().After(deadline) {
			t.Fatalf("read answered %d while the log cannot store", r.status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/Patient/" + pid},
		{"GET", "/Patient?family=Closedfamily"},
		{"POST", "/Patient"},
	} {
		var body any
		if req.method == "POST" {
			body = patient("Refusedfamily")
		}
		r := s.do(req.method, req.path, body)
		s.expectOutcome(r, http.StatusServiceUnavailable)
		if bytes.Contains(r.body, []byte("Closedfamily")) || bytes.Contains(r.body, []byte(pid)) {
			t.Fatalf("%s %s returned data while failing: %s", req.method, req.path, r.body)
		}
	}
	// Nor is an account created unrecorded: the account and its record
	// commit together or not at all.
	if _, _, err := s.node.AddUser(localCtx(), auth.NewUser{Username: "unrecorded", Roles: []string{"admin"}}); err == nil {
		t.Fatal("an account was created while the audit log fails")
	}
	if _, err := s.node.Accounts.ByName(context.Background(), "unrecorded"); err == nil {
		t.Fatal("the account stands although its record failed")
	}
	// No token is issued while its issuance cannot be audited.
	st, tr := s.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.cruds"}}, s.client, s.secret)
	if st != http.StatusServiceUnavailable || tr["error"] != "temporarily_unavailable" || tr["access_token"] != nil {
		t.Fatalf("token request while the log fails: %d %v", st, tr)
	}
	if _, err := other.Exec(repairLog, args...); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for s.do("GET", "/Patient/"+pid, nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("reads do not recover once the log can store again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.expect(s.do("GET", "/Patient?family=Refusedfamily&_summary=count", nil), 200); got["total"].(float64) != 0 {
		t.Fatalf("a create refused for its audit record was stored: %v", got)
	}
	if _, err := tlog.Verify(context.Background(), s.node.DB.AuditLog, s.node.DB.AuditNodes(), nil); err != nil {
		t.Fatal(err)
	}
}

// copyThenAdvance writes a patient, keeps a copy of the closed database,
// then writes another: it returns what puts the copy back.
func copyThenAdvance(t *testing.T, cfg Config) (restoreOld func()) {
	t.Helper()
	s := openAt(t, cfg)
	s.create(patient("Rollbackfamily"))
	s.node.Close()
	restoreOld = snapshotDB(t, cfg)
	s = openAt(t, cfg)
	s.create(patient("Laterfamily"))
	s.node.Close()
	return restoreOld
}

// A database rolled back to an earlier copy is refused at open: the
// checkpoint the sink holds is larger than the log. So is a log whose
// records were rewritten.
func TestRolledBackDatabaseIsRefused(t *testing.T) {
	cfg := testConfig(t)
	restoreOld := copyThenAdvance(t, cfg)
	held, err := os.ReadDir(filepath.Join(cfg.DataDir, CheckpointDir))
	if err != nil || len(held) < 2 {
		t.Fatalf("checkpoint folder: %v, %v", held, err)
	}
	restoreCurrent := snapshotDB(t, cfg)
	restoreOld()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := OpenNode(context.Background(), cfg, log); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("a rolled-back database opened: %v", err)
	}
	// Back to the current copy, it opens; with a record rewritten, not.
	restoreCurrent()
	n, err := OpenNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	other := rawDBAt(t, cfg)
	if _, err := other.Exec(`UPDATE audit_record SET record = ?, leaf = ? WHERE idx = 0`, []byte{1, 0}, tlog.Hasher.HashLeaf([]byte{1, 0})); err != nil {
		t.Fatal(err)
	}
	other.db.Close()
	if _, err := OpenNode(context.Background(), cfg, log); err == nil || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("a rewritten log opened: %v", err)
	}
}

// The checkpoint and proof endpoints: a signed checkpoint that opens with
// the log's key, inclusion proofs of stored records against it, and a
// consistency proof between two checkpoints; bad parameters are 400.
func TestCheckpointAndProofEndpoints(t *testing.T) {
	s := newTestServer(t)
	s.create(patient("Prooffamily"))
	openCP := func() tlog.Checkpoint {
		r := s.do("GET", "/audit/checkpoint", nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("checkpoint: %d %s", r.status, r.header.Get("Content-Type"))
		}
		cps, err := checkpoint.Open([][]byte{r.body}, s.node.AuditID.Origin, s.node.AuditID.Verifier)
		if err != nil {
			t.Fatalf("%v\n%s", err, r.body)
		}
		return cps[0]
	}
	c1 := openCP()
	if c1.Size == 0 {
		t.Fatal("an empty checkpoint after a create")
	}
	var records [][]byte
	s.node.DB.AuditRecords(context.Background(), 0, c1.Size, func(_ uint64, rec []byte) error { records = append(records, rec); return nil })
	for i := range c1.Size {
		r := s.do("GET", fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", i, c1.Size), nil)
		var p struct {
			Leaf   []byte   `json:"leaf"`
			Hashes [][]byte `json:"hashes"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
			t.Fatalf("inclusion %d: %d %s", i, r.status, r.body)
		}
		if !bytes.Equal(p.Leaf, tlog.Hasher.HashLeaf(records[i])) {
			t.Fatalf("inclusion %d: the leaf is not the record's hash", i)
		}
		if err := tlog.VerifyInclusion(records[i], i, c1.Size, p.Hashes, c1.Root); err != nil {
			t.Fatalf("inclusion %d: %v", i, err)
		}
	}
	for range 3 {
		s.create(patient("Laterfamily"))
	}
	s.auditEvents(c1.Size + 4) // the checkpoint requests are audited too
	// Requests get the latest checkpoint and never make the server sign
	// one (they are audited: each would).
	for range 10 {
		if c := openCP(); c.Size != c1.Size {
			t.Fatalf("a request signed a new checkpoint (%d records)", c.Size)
		}
	}
	if held, _ := checkpoint.ReadFolder(filepath.Join(s.node.Dir, CheckpointDir)); len(held) != 1 {
		t.Fatalf("%d checkpoints in the folder after requests, want 1", len(held))
	}
	if _, err := s.node.Checkpoints.Issue(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2 := openCP()
	if c2.Size <= c1.Size {
		t.Fatalf("checkpoint of %d records after %d", c2.Size, c1.Size)
	}
	r := s.do("GET", fmt.Sprintf("/audit/proof/consistency?from=%d&to=%d", c1.Size, c2.Size), nil)
	var p struct {
		Hashes [][]byte `json:"hashes"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
		t.Fatalf("consistency: %d %s", r.status, r.body)
	}
	if err := tlog.VerifyConsistency(c1.Size, c2.Size, p.Hashes, c1.Root, c2.Root); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"/audit/proof/inclusion?index=0",
		"/audit/proof/inclusion?index=x&size=1",
		fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", c2.Size, c2.Size),
		fmt.Sprintf("/audit/proof/inclusion?index=0&size=%d", c2.Size+1000),
		"/audit/proof/consistency?from=0&to=1",
		fmt.Sprintf("/audit/proof/consistency?from=%d&to=%d", c2.Size, c1.Size),
	} {
		s.expectOutcome(s.do("GET", bad, nil), 400)
	}
}

// Audit events are for administrators: over the network (anonymous until
// authentication exists) search, read and access reports are refused,
// and nobody writes AuditEvents. The hestia command, an administrator,
// finds a patient's events by patient, interaction, outcome, date, agent
// and entity.
func TestAuditEventSearch(t *testing.T) {
	s := newTestServer(t)
	p := s.create(patient("Searchedfamily"))
	pid := p["id"].(string)
	other := s.create(patient("Otherfamily"))["id"].(string)
	s.expect(s.do("GET", "/Patient/"+pid, nil), 200)
	s.expect(s.do("GET", "/Patient?family=Searchedfamily", nil), 200)
	s.expectOutcome(s.do("GET", "/Patient/nobody", nil), 404)
	s.expect(s.do("GET", "/Patient/"+other, nil), 200)

	for _, path := range []string{"/AuditEvent", "/AuditEvent?patient=" + pid, "/AuditEvent/0", "/Patient/" + pid + "/$access-report"} {
		s.expectOutcome(s.do("GET", path, nil), 403)
	}
	s.expectOutcome(s.do("POST", "/AuditEvent", map[string]any{"resourceType": "AuditEvent"}), 405)
	s.expectOutcome(s.do("DELETE", "/AuditEvent/0", nil), 405)
	// Nor through a Bundle.
	fake := map[string]any{"resourceType": "AuditEvent", "type": map[string]any{"code": "rest"}, "recorded": "2026-01-01T00:00:00Z",
		"agent": []any{map[string]any{"requestor": true}}, "source": map[string]any{"observer": map[string]any{"display": "x"}}}
	s.expectOutcome(s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": fake, "request": map[string]any{"method": "POST", "url": "AuditEvent"}}}}), 400)
	s.expectOutcome(s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
		map[string]any{"request": map[string]any{"method": "GET", "url": "AuditEvent"}}}}), 400)
	settled := uint64(len(s.auditEvents(10)))

	ctx := access.WithPrincipal(context.Background(), access.Local())
	eng := s.node.Engine
	rep, err := eng.AccessReport(ctx, pid, nil)
	if err != nil || len(rep.Hits) != 3 {
		t.Fatalf("access report: %v, %v", rep, err)
	}
	s.auditEvents(settled + 1) // the report is an access too
	kinds := func(q url.Values) []string {
		t.Helper()
		page, err := eng.AuditEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range page.Hits {
			out = append(out, h.Event.Interaction+":"+h.Event.Outcome)
		}
		return out
	}
	if got := fmt.Sprint(kinds(url.Values{"patient": {pid}})); got != "[access-report:0 search-type:0 read:0 create:0]" {
		t.Errorf("patient's events, newest first: %s", got)
	}
	if got := fmt.Sprint(kinds(url.Values{"patient": {pid}, "type": {"read"}})); got != "[read:0]" {
		t.Errorf("patient's reads: %s", got)
	}
	if got := fmt.Sprint(kinds(url.Values{"outcome": {"4"}, "type": {"read"}})); got != "[read:4]" {
		t.Errorf("failed reads: %s", got)
	}
	if got := kinds(url.Values{"entity": {"Patient/" + other}}); len(got) != 2 {
		t.Errorf("events naming the other patient: %v", got)
	}
	if got := kinds(url.Values{"agent": {s.client}, "date": {"ge2000-01-01"}, "_count": {"2"}}); len(got) != 2 {
		t.Errorf("the client's events since 2000, two: %v", got)
	}
	if got := kinds(url.Values{"date": {"lt2000"}}); len(got) != 0 {
		t.Errorf("events before 2000: %v", got)
	}
	if _, err := eng.AuditEvents(ctx, url.Values{"name": {"x"}}); err == nil {
		t.Error("an unsupported parameter was accepted")
	}
	// Paging: one at a time, newest first, down the log.
	page, _ := eng.AuditEvents(ctx, url.Values{"patient": {pid}, "_count": {"1"}})
	next, _ := eng.AuditEvents(ctx, url.Values{"patient": {pid}, "_count": {"1"}, "_before": {strconv.FormatUint(page.Before, 10)}})
	if len(page.Hits) != 1 || len(next.Hits) != 1 || next.Hits[0].Index >= page.Hits[0].Index {
		t.Fatalf("second page: %+v", next.Hits)
	}
}

// A server start records its configuration (what shapes security, never
// a secret), so configuration changes show in the log.
func TestStartRecordsConfiguration(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey = strings.Repeat("ab", 32)
	_, srv := startServe(t, cfg)
	s := &testServer{t: t, node: srv.node}
	var found *audit.Event
	deadline := time.Now().Add(5 * time.Second)
	for found == nil && time.Now().Before(deadline) {
		s.node.DB.AuditLog(context.Background(), func(_ uint64, rec []byte) error {
			if ev, err := audit.Open(s.node.Keys, rec); err == nil && ev.Interaction == "configure" {
				found = ev
			}
			return nil
		})
		time.Sleep(10 * time.Millisecond)
	}
	if found == nil {
		t.Fatal("no configure event")
	}
	for _, want := range []string{"listen=127.0.0.1:0", "tls=self-signed", "kms=local", "audit_origin=", "synchronous=NORMAL"} {
		if !strings.Contains(found.Detail, want) {
			t.Errorf("configuration %q lacks %s", found.Detail, want)
		}
	}
	if strings.Contains(found.Detail, cfg.MasterKey) {
		t.Fatal("the master key is in the audit log")
	}
}

// Checkpoint sinks: folders and HTTPS endpoints; with endpoints only the
// default folder is kept (the check at start reads folders); plain HTTP
// only on loopback.
func TestCheckpointSinks(t *testing.T) {
	cfg := testConfig(t)
	cfg.AuditCheckpoints = "https://audit.example.org/checkpoints"
	sinks, err := checkpointSinks(context.Background(), cfg)
	if err != nil || len(sinks) != 2 {
		t.Fatalf("%v %v", sinks, err)
	}
	if f, ok := sinks[0].(checkpoint.Folder); !ok || f.Dir != filepath.Join(cfg.DataDir, CheckpointDir) {
		t.Fatalf("first sink %v, want the default folder", sinks[0])
	}
	cfg.AuditCheckpoints = "/elsewhere/cps, https://user:secret@audit.example.org/x"
	sinks, err = checkpointSinks(context.Background(), cfg)
	if err != nil || len(sinks) != 2 || strings.Contains(sinks[1].String(), "secret") {
		t.Fatalf("%v %v", sinks, err)
	}
	for _, bad := range []string{"http://audit.example.org/x", "https://"} {
		cfg.AuditCheckpoints = bad
		if _, err := checkpointSinks(context.Background(), cfg); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// With checkpoints in an S3 bucket only (no folder), a database restored
// from an older copy is refused all the same: the bucket is read back.
func TestRolledBackDatabaseIsRefusedWithS3(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server())
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	cfg := testConfig(t)
	cfg.AuditCheckpoints = "s3://audit/" + t.Name()
	cfg.AuditS3Endpoint = srv.URL
	restoreOld := copyThenAdvance(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, CheckpointDir)); err == nil {
		t.Fatal("a checkpoint folder was written though a bucket is configured")
	}
	restoreOld()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := OpenNode(context.Background(), cfg, log); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("a rolled-back database opened: %v", err)
	}
}

// The CapabilityStatement says what AuditEvent supports: read and search.
func TestCapabilityStatementAuditEvent(t *testing.T) {
	s := newTestServer(t)
	cs := s.expect(s.do("GET", "/metadata", nil), 200)
	for _, r := range cs["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		res := r.(map[string]any)
		if res["type"] != "AuditEvent" {
			continue
		}
		var codes []string
		for _, i := range res["interaction"].([]any) {
			codes = append(codes, i.(map[string]any)["code"].(string))
		}
		if fmt.Sprint(codes) != "[read search-type]" || res["searchInclude"] != nil {
			t.Fatalf("AuditEvent: %v", res)
		}
		return
	}
	t.Fatal("no AuditEvent in the CapabilityStatement")
}
