package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/oauth"
)

// accessWorld is a small data set for the leak tests: practitioner dr
// treats patient A (CareTeam); B is unrelated; the patient account owns A.
type accessWorld struct {
	s          *testServer
	a, b       *fixturePatient
	app        string
	clinician  string // token: clinician dr, user/*.cruds
	patient    string // token: the patient A, patient/*.rs
	registrant string // token: registration (every patient), user/*.cruds
}

func newAccessWorld(t *testing.T, s *testServer) *accessWorld {
	t.Helper()
	w := &accessWorld{s: s}
	pr := clinical("Practitioner", "")
	pr["id"] = "dr"
	s.expect(s.do("PUT", "/Practitioner/dr", pr), http.StatusCreated)
	w.a = makeFixture(s, "rel")
	w.b = makeFixture(s, "unrel")
	app, _, err := oauth.Register(context.Background(), s.node.DB, oauth.ClientSpec{Name: "Leak App", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/*.cruds patient/*.cruds launch/patient user/AuditEvent.rs"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.app = app.ID
	w.clinician = s.roleToken(app.ID, "w.clinician", []string{"clinician"}, "dr", "", "user/*.cruds")
	w.patient = s.roleToken(app.ID, "w.patient", []string{"patient"}, "", w.a.id, "patient/*.rs launch/patient")
	w.registrant = s.roleToken(app.ID, "w.registration", []string{"registration"}, "", "", "user/*.cruds")
	return w
}

func bearerOf(tok string, more ...string) []string {
	return append([]string{"Authorization", "Bearer " + tok}, more...)
}

func ids(b map[string]any) []string {
	var out []string
	for _, e := range entries(b) {
		out = append(out, e["resourceType"].(string)+"/"+e["id"].(string))
	}
	return out
}

// A patient searching another patient's data gets an empty Bundle, with
// a total that counts nothing of it.
func TestPatientSearchingAnotherPatient(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	for _, q := range []string{"/Observation?subject=Patient/" + w.b.id, "/Observation?patient=" + w.b.id + "&_total=accurate",
		"/Observation?_total=accurate", "/Patient?_id=" + w.b.id, "/Observation?subject:Patient.name=Matrixunrel"} {
		b := s.expect(s.do("GET", q, nil, bearerOf(w.patient)...), 200)
		for _, id := range ids(b) {
			if strings.Contains(id, w.b.ids["Observation"]) || id == "Patient/"+w.b.id {
				t.Fatalf("%s returned %s", q, id)
			}
		}
		if tot, ok := b["total"].(float64); ok && strings.Contains(q, w.b.id) && tot != 0 {
			t.Fatalf("%s: total %v", q, tot)
		}
	}
	// Their own: found.
	b := s.expect(s.do("GET", "/Observation?patient="+w.a.id+"&_total=accurate", nil, bearerOf(w.patient)...), 200)
	if b["total"].(float64) != 1 {
		t.Fatalf("own observations: %v", b["total"])
	}
	// Across everything the total counts only their own.
	b = s.expect(s.do("GET", "/Observation?_total=accurate", nil, bearerOf(w.patient)...), 200)
	if b["total"].(float64) != 1 {
		t.Fatalf("all observations as the patient: total %v", b["total"])
	}
}

// _include, _revinclude and _has never reach what the principal may not
// see, and paging totals never count it.
func TestIncludesAndHasStayInReach(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	// An Observation of A whose focus is B (another compartment).
	obs := clinical("Observation", w.a.id)
	obs["focus"] = []any{ref("Patient/" + w.b.id)}
	cross := s.create(obs)["id"].(string)
	b := s.expect(s.do("GET", "/Observation?_id="+cross+"&_include=Observation:focus", nil, bearerOf(w.clinician)...), 200)
	if got := ids(b); slices.Contains(got, "Patient/"+w.b.id) || !slices.Contains(got, "Observation/"+cross) {
		t.Fatalf("_include reached another compartment: %v", got)
	}
	// The same include for a principal who reaches every patient returns B.
	svc := s.expect(s.do("GET", "/Observation?_id="+cross+"&_include=Observation:focus", nil), 200)
	if !slices.Contains(ids(svc), "Patient/"+w.b.id) {
		t.Fatalf("the service's include: %v", ids(svc))
	}
	// _revinclude from a practitioner (a directory resource) to the
	// Encounters of every patient: only those in reach.
	other := clinical("Practitioner", "")
	other["id"] = "other"
	s.expect(s.do("PUT", "/Practitioner/other", other), http.StatusCreated)
	enc := encounter(w.b.id, time.Now().Add(-time.Hour), time.Time{})
	enc["participant"] = []any{map[string]any{"individual": ref("Practitioner/other")}}
	s.create(enc)
	revinc := "/Practitioner?_id=other&_revinclude=Encounter:participant"
	if got := ids(s.expect(s.do("GET", revinc, nil, bearerOf(w.clinician)...), 200)); len(got) != 1 {
		t.Fatalf("_revinclude returned an Encounter of an unrelated patient: %v", got)
	}
	if got := ids(s.expect(s.do("GET", revinc, nil), 200)); len(got) != 2 {
		t.Fatalf("the service's _revinclude: %v", got)
	}
	// _has probing through a hidden (PSY) Observation: the patient is not
	// returned for the hidden Observation's code.
	psy := makeFixture(s, "psy")
	q := "/Patient?_has:Observation:patient:code=http://loinc.org|8867-4&_id=" + psy.id
	if got := ids(s.expect(s.do("GET", q, nil, bearerOf(w.clinician)...), 200)); len(got) != 0 {
		t.Fatalf("_has through a PSY-labelled Observation: %v", got)
	}
	if got := ids(s.expect(s.do("GET", q, nil), 200)); len(got) != 1 {
		t.Fatalf("the service's _has: %v", got)
	}
	// Totals and paging of a search across patients count the reach only.
	var inReach []string
	link := "/Observation?_total=accurate&_count=1"
	total := -1.0
	for link != "" {
		page := s.expect(s.do("GET", strings.TrimPrefix(link, s.url), nil, bearerOf(w.clinician)...), 200)
		if total < 0 {
			total = page["total"].(float64)
		}
		inReach = append(inReach, ids(page)...)
		link = linkOf(page, "next")
	}
	for _, id := range inReach {
		if id == "Observation/"+w.b.ids["Observation"] {
			t.Fatal("paging returned an unrelated patient's Observation")
		}
	}
	if int(total) != len(inReach) {
		t.Fatalf("total %v, pages returned %d", total, len(inReach))
	}
	// An Encounter of B with dr relates dr to B at once (the facts
	// follow writes).
	s.create(encounter(w.b.id, time.Now().Add(-time.Hour), time.Time{}))
	s.expect(s.do("GET", "/Observation/"+w.b.ids["Observation"], nil, bearerOf(w.clinician)...), 200)
}

func linkOf(b map[string]any, rel string) string {
	ls, _ := b["link"].([]any)
	for _, l := range ls {
		if m := l.(map[string]any); m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

// A principal limited by patient gets the same answer for what it may not
// see, what was deleted and what does not exist: no existence oracle, the
// history of a deleted resource included.
func TestRefusalsRevealNothing(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	gone := s.create(clinical("Observation", w.b.id))["id"].(string)
	s.expect(s.do("DELETE", "/Observation/"+gone, nil), 204)
	mine := s.create(clinical("Observation", w.a.id))["id"].(string)
	s.expect(s.do("DELETE", "/Observation/"+mine, nil), 204)
	answer := func(path string, hdr ...string) (int, string) {
		r := s.do("GET", path, nil, append(bearerOf(w.clinician), hdr...)...)
		return r.status, string(r.body)
	}
	st1, b1 := answer("/Observation/" + w.b.ids["Observation"])
	st2, b2 := answer("/Observation/no-such-observation")
	st3, b3 := answer("/Observation/" + gone)
	st4, b4 := answer("/Observation/" + gone + "/_history")
	st5, b5 := answer("/Observation/no-such-observation/_history")
	if st1 != 403 || st2 != 403 || st3 != 403 || st4 != 403 || st5 != 403 || b1 != b2 || b2 != b3 || b3 != b4 || b4 != b5 {
		t.Fatalf("answers differ:\n%d %s\n%d %s\n%d %s\n%d %s\n%d %s", st1, b1, st2, b2, st3, b3, st4, b4, st5, b5)
	}
	if !strings.Contains(b1, "X-Break-Glass-Reason") {
		t.Fatalf("no break-the-glass hint: %s", b1)
	}
	// In reach, a deleted resource is 410 and its history readable.
	if st, _ := answer("/Observation/" + mine); st != 410 {
		t.Fatalf("a deleted resource in reach: %d", st)
	}
	if st, _ := answer("/Observation/" + mine + "/_history"); st != 200 {
		t.Fatalf("the history of a deleted resource in reach: %d", st)
	}
	// Type and system history are for unlimited reach only.
	for _, p := range []string{"/Observation/_history", "/_history"} {
		if st, _ := answer(p); st != 403 {
			t.Fatalf("%s as a clinician: %d", p, st)
		}
	}
	// A principal who reaches every patient gets 404 for what a consent
	// hides, the same as for nothing.
	cd := makeFixture(s, "consent-deny")
	r1 := s.do("GET", "/Observation/"+cd.ids["Observation"], nil, bearerOf(w.registrant)...)
	r2 := s.do("GET", "/Patient/"+cd.id, nil, bearerOf(w.registrant)...)
	r3 := s.do("GET", "/Patient/no-such-patient", nil, bearerOf(w.registrant)...)
	if r1.status != 403 || r2.status != 404 || r3.status != 404 || !bytes.Equal(r2.body, r3.body) {
		t.Fatalf("registration: observation %d, consent-denied patient %d %s, missing patient %d %s", r1.status, r2.status, r2.body, r3.status, r3.body)
	}
}

// Transaction entries are decided one by one: a write into another
// patient's compartment fails the whole Bundle, and a read entry answers
// like a read.
func TestTransactionEntriesStayInReach(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	tx := func(entries ...map[string]any) *response {
		es := make([]any, len(entries))
		for i, e := range entries {
			es[i] = e
		}
		return s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": es}, bearerOf(w.clinician)...)
	}
	post := func(res map[string]any) map[string]any {
		return map[string]any{"resource": res, "request": map[string]any{"method": "POST", "url": res["resourceType"]}}
	}
	get := func(u string) map[string]any {
		return map[string]any{"request": map[string]any{"method": "GET", "url": u}}
	}
	if r := tx(post(clinical("Observation", w.a.id))); r.status != 200 {
		t.Fatalf("a transaction in reach: %d %s", r.status, r.body)
	}
	before := s.expect(s.do("GET", "/Observation?patient="+w.b.id+"&_summary=count", nil), 200)["total"]
	if r := tx(post(clinical("Observation", w.a.id)), post(clinical("Observation", w.b.id))); r.status != 403 {
		t.Fatalf("a transaction writing into another compartment: %d %s", r.status, r.body)
	}
	if after := s.expect(s.do("GET", "/Observation?patient="+w.b.id+"&_summary=count", nil), 200)["total"]; after != before {
		t.Fatalf("the refused transaction wrote: %v → %v", before, after)
	}
	r1 := tx(get("Observation/" + w.b.ids["Observation"]))
	r2 := tx(get("Observation/no-such-observation"))
	if r1.status != 403 || r1.status != r2.status || !bytes.Equal(r1.body, r2.body) {
		t.Fatalf("transaction reads: %d %s / %d %s", r1.status, r1.body, r2.status, r2.body)
	}
	r := tx(get("Observation?patient=" + w.b.id))
	if r.status != 200 || strings.Contains(string(r.body), w.b.ids["Observation"]) {
		t.Fatalf("a transaction search of another patient: %d %s", r.status, r.body)
	}
	// A batch decides each entry: the one out of reach fails alone.
	batch := s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
		get("Observation/" + w.a.ids["Observation"]), get("Observation/" + w.b.ids["Observation"])}}, bearerOf(w.clinician)...)
	bb := s.expect(batch, 200)
	statuses := []string{}
	for _, e := range bb["entry"].([]any) {
		statuses = append(statuses, e.(map[string]any)["response"].(map[string]any)["status"].(string))
	}
	if !strings.HasPrefix(statuses[0], "200") || !strings.HasPrefix(statuses[1], "403") {
		t.Fatalf("batch entries: %v", statuses)
	}
}

// Conditional operations match only what the principal may see: hidden
// matches answer exactly like no matches, and are left untouched.
func TestConditionalOperationsAreNoOracle(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	hidden := clinical("Observation", w.b.id)
	hidden["identifier"] = []any{map[string]any{"system": "urn:lab", "value": "L-1"}}
	hid := s.create(hidden)["id"].(string)
	// Conditional delete: 204 for the hidden match and for no match.
	for _, q := range []string{"identifier=urn:lab|L-1", "identifier=urn:lab|L-none"} {
		if r := s.do("DELETE", "/Observation?"+q, nil, bearerOf(w.clinician)...); r.status != 204 {
			t.Fatalf("conditional delete %s: %d %s", q, r.status, r.body)
		}
	}
	s.expect(s.do("GET", "/Observation/"+hid, nil), 200) // still there
	// Conditional create: both create (in the clinician's patient).
	for _, v := range []string{"L-1", "L-none"} {
		body := clinical("Observation", w.a.id)
		body["identifier"] = []any{map[string]any{"system": "urn:lab", "value": v}}
		if r := s.do("POST", "/Observation", body, bearerOf(w.clinician, "If-None-Exist", "identifier=urn:lab|"+v)...); r.status != 201 {
			t.Fatalf("conditional create %s: %d %s", v, r.status, r.body)
		}
	}
	// Conditional update: a new resource, the hidden one unchanged.
	body := clinical("Observation", w.a.id)
	body["identifier"] = []any{map[string]any{"system": "urn:lab", "value": "L-2"}}
	other := clinical("Observation", w.b.id)
	other["identifier"] = body["identifier"]
	hid2 := s.create(other)["id"].(string)
	if r := s.do("PUT", "/Observation?identifier=urn:lab|L-2", body, bearerOf(w.clinician)...); r.status != 201 {
		t.Fatalf("conditional update with a hidden match: %d %s", r.status, r.body)
	}
	if v := s.expect(s.do("GET", "/Observation/"+hid2, nil), 200)["meta"].(map[string]any)["versionId"]; v != "1" {
		t.Fatalf("the hidden resource was updated: version %v", v)
	}
}

// Scopes narrow what roles allow, _include included, and SMART v2
// constraints apply to reads and searches.
func TestScopesNarrowRoles(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	obsOnly := s.roleToken(w.app, "w.obsonly", []string{"clinician"}, "dr", "", "user/Observation.rs")
	r := s.do("GET", "/Observation?patient="+w.a.id+"&_include=Observation:subject", nil, bearerOf(obsOnly)...)
	if r.status != 403 {
		t.Fatalf("_include of Patient with user/Observation.rs only: %d", r.status)
	}
	if r := s.do("GET", "/Patient/"+w.a.id, nil, bearerOf(obsOnly)...); r.status != 403 {
		t.Fatalf("read of Patient with user/Observation.rs only: %d", r.status)
	}
	lab := clinical("Observation", w.a.id)
	lab["category"] = []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}}}
	labID := s.create(lab)["id"].(string)
	labOnly := s.roleToken(w.app, "w.labonly", []string{"clinician"}, "dr", "", "user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	got := ids(s.expect(s.do("GET", "/Observation?patient="+w.a.id, nil, bearerOf(labOnly)...), 200))
	if len(got) != 1 || got[0] != "Observation/"+labID {
		t.Fatalf("search under a category constraint: %v", got)
	}
	if r := s.do("GET", "/Observation/"+w.a.ids["Observation"], nil, bearerOf(labOnly)...); r.status != 403 {
		t.Fatalf("read outside the constraint: %d", r.status)
	}
	s.expect(s.do("GET", "/Observation/"+labID, nil, bearerOf(labOnly)...), 200)
}

// Break-the-glass: refused without a relationship, allowed with a reason
// for a while, flagged in the audit log and in the patient's access
// report; roles without it gain nothing from the header.
func TestBreakTheGlass(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	path := "/Observation/" + w.b.ids["Observation"]
	if r := s.do("GET", path, nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("before: %d", r.status)
	}
	r := s.do("GET", path, nil, bearerOf(w.clinician, "X-Break-Glass-Reason", "cardiac arrest, no chart access")...)
	if r.status != 200 {
		t.Fatalf("with a reason: %d %s", r.status, r.body)
	}
	// The grant covers the patient's other data for a while, searches too.
	s.expect(s.do("GET", "/Condition/"+w.b.ids["Condition"], nil, bearerOf(w.clinician)...), 200)
	if got := ids(s.expect(s.do("GET", "/Observation?patient="+w.b.id, nil, bearerOf(w.clinician)...), 200)); len(got) != 1 {
		t.Fatalf("search under the grant: %v", got)
	}
	// But not writes.
	if r := s.do("POST", "/Observation", clinical("Observation", w.b.id), bearerOf(w.clinician, "X-Break-Glass-Reason", "emergency order")...); r.status != 403 {
		t.Fatalf("a write under break-the-glass: %d", r.status)
	}
	// A role without break-the-glass gains nothing.
	if r := s.do("GET", "/Observation/"+w.b.ids["Observation"], nil, bearerOf(w.patient, "X-Break-Glass-Reason", "curious")...); r.status != 403 {
		t.Fatalf("a patient breaking the glass: %d", r.status)
	}
	// A search that names its patient breaks the glass too.
	c := makeFixture(s, "unrel")
	if got := ids(s.expect(s.do("GET", "/Condition?patient="+c.id, nil, bearerOf(w.clinician, "X-Break-Glass-Reason", "stroke alert")...), 200)); len(got) != 1 {
		t.Fatalf("a search breaking the glass: %v", got)
	}
	// The audit log flags it, with the reason in the sealed record.
	waitFor(t, func() bool { // the records reach the log in batches
		size, _ := s.node.DB.AuditHead()
		flagged := 0
		for _, ev := range s.auditEvents(size) {
			if m, ok := ev["meta"].(map[string]any); ok && strings.Contains(jsonString(m), "BTG") {
				flagged++
			}
		}
		return flagged >= 3
	})
	// The patient's access report shows it, to the patient.
	bt := s.roleToken(w.app, "w.patientb", []string{"patient"}, "", w.b.id, "patient/*.rs launch/patient")
	rep := s.expect(s.do("GET", "/Patient/"+w.b.id+"/$access-report", nil, bearerOf(bt)...), 200)
	if !strings.Contains(jsonString(rep), "BTG") {
		t.Fatalf("the access report does not show break-the-glass")
	}
	// Another patient's report is refused.
	if r := s.do("GET", "/Patient/"+w.a.id+"/$access-report", nil, bearerOf(bt)...); r.status != 403 {
		t.Fatalf("another patient's access report: %d", r.status)
	}
	// The privacy officer finds the alerts: break-the-glass, and data of
	// a patient labelled for alerts (V) reached by someone allowed.
	vip := makeFixture(s, "vip")
	s.expect(s.do("GET", "/Observation/"+vip.ids["Observation"], nil), 200)
	auditor := s.roleToken(w.app, "w.officer", []string{"auditor"}, "", "", "user/AuditEvent.rs")
	for _, kind := range []string{"break-the-glass", "restricted-patient"} {
		waitFor(t, func() bool {
			b := s.expect(s.do("GET", "/AuditEvent?alert="+kind, nil, bearerOf(auditor)...), 200)
			return len(entries(b)) > 0 && strings.Contains(jsonString(b), `"code":"`+kind+`"`)
		})
	}
}

// Audit events are for auditors (role and scope); clinicians, patients and
// administrators are refused.
func TestAuditEventsAreForAuditors(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	auditor := s.roleToken(w.app, "w.auditor", []string{"auditor"}, "", "", "user/AuditEvent.rs")
	s.expect(s.do("GET", "/AuditEvent?patient="+w.a.id, nil, bearerOf(auditor)...), 200)
	s.expect(s.do("GET", "/Patient/"+w.a.id+"/$access-report", nil, bearerOf(auditor)...), 200)
	if r := s.do("GET", "/Observation/"+w.a.ids["Observation"], nil, bearerOf(auditor)...); r.status != 403 {
		t.Fatalf("an auditor reading clinical data: %d", r.status)
	}
	admin := s.roleToken(w.app, "w.admin", []string{"admin"}, "", "", "user/*.cruds user/AuditEvent.rs")
	for _, tok := range []string{w.clinician, w.patient, admin} {
		if r := s.do("GET", "/AuditEvent?patient="+w.a.id, nil, bearerOf(tok)...); r.status != 403 {
			t.Fatalf("AuditEvent search by a non-auditor: %d", r.status)
		}
	}
}

// The policy file is data: an edit takes effect without a restart, is
// audited, and a broken edit leaves the policy in force.
func TestPolicyReloads(t *testing.T) {
	cfg := testConfig(t)
	path := withPolicy(t, &cfg, func(map[string]any) {})
	s := openAt(t, cfg)
	// What Serve starts (the test server runs the handler alone).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.srv.watchPolicy(ctx, 50*time.Millisecond)
	w := newAccessWorld(t, s)
	read := func() int {
		return s.do("GET", "/Observation/"+w.a.ids["Observation"], nil, bearerOf(w.clinician)...).status
	}
	if st := read(); st != 200 {
		t.Fatalf("before: %d", st)
	}
	rewrite := func(data []byte) {
		// A later modification time and new content: the watcher sees it.
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edited := withPolicy(t, &Config{}, func(p map[string]any) { role(p, "clinician")["grants"] = map[string]any{"Patient": "rs"} })
	data, _ := os.ReadFile(edited)
	rewrite(data)
	waitFor(t, func() bool { return read() == 403 })
	rewrite([]byte(`{"roles": {"clinician": {"grants": {"*": "cruds"}, "patients": "everyone"}}}`))
	time.Sleep(500 * time.Millisecond)
	if st := read(); st != 403 {
		t.Fatalf("a broken policy file changed the policy in force: %d", st)
	}
	waitFor(t, func() bool { // the records reach the log in batches
		size, _ := s.node.DB.AuditHead()
		var details []string
		for _, ev := range s.auditEvents(size) {
			if d := detail(ev, "configuration"); strings.Contains(d, "policy") {
				details = append(details, d)
			}
		}
		return len(details) >= 2 && strings.Contains(strings.Join(details, " "), "policy_refused")
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func jsonString(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}

// The running server (Serve) watches the policy file: an edit takes
// effect without a restart.
func TestServeReloadsThePolicy(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	path := withPolicy(t, &cfg, func(map[string]any) {})
	_, srv := startServe(t, cfg)
	before := srv.node.Policy.Rules().Digest()
	edited := withPolicy(t, &Config{}, func(p map[string]any) { role(p, "nurse")["grants"] = map[string]any{"Patient": "rs"} })
	data, _ := os.ReadFile(edited)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.node.Policy.Rules().Digest() != before })
}
