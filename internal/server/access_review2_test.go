package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Consent label codes are codes, whatever characters they hold: no query
// syntax, no failing searches, and search hides what reads hide.
func TestConsentLabelCodesAreCodes(t *testing.T) {
	cfg := testConfig(t)
	// The service records the consents, one after another.
	withPolicy(t, &cfg, func(p map[string]any) { role(p, "service")["consentExempt"] = true })
	s := openAt(t, cfg)
	w := newAccessWorld(t, s)
	for _, code := range []string{"A,B", "A|B", `A\,B`, `A\`, "A$B"} {
		o := clinical("Observation", w.a.id)
		o["meta"] = label("urn:x", code)
		oid := s.create(o)["id"].(string)
		c := privacyConsent(w.a.id, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
			"securityLabel": []any{map[string]any{"system": "urn:x|y", "code": code}}}}})
		s.create(c)
		for _, tok := range []string{w.clinician, w.registrant, w.patient} {
			if r := s.do("GET", "/Patient?_count=1", nil, bearerOf(tok)...); r.status != 200 {
				t.Fatalf("code %q: a search answers %d", code, r.status)
			}
		}
		if r := s.do("GET", "/Observation/"+oid, nil, bearerOf(w.clinician)...); r.status != 403 {
			t.Errorf("code %q: read %d", code, r.status)
		}
		if got := ids(s.expect(s.do("GET", "/Observation?_id="+oid, nil, bearerOf(w.clinician)...), 200)); len(got) != 0 {
			t.Errorf("code %q: search shows what the consent hides: %v", code, got)
		}
	}
}

// Many consent exceptions neither break searches nor leak: past the bound
// a query holds, their patients are hidden from searches whole.
func TestManyConsentExceptions(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	var labels []any
	for i := 0; i < 300; i++ {
		labels = append(labels, map[string]any{"system": "urn:x", "code": fmt.Sprintf("L%d", i)})
	}
	s.create(privacyConsent(w.a.id, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny", "securityLabel": labels}}}))
	var es []any
	for i := 0; i < 120; i++ {
		u := fmt.Sprintf("urn:uuid:00000000-0000-0000-0000-%012d", i)
		es = append(es, map[string]any{"fullUrl": u, "resource": patient(fmt.Sprintf("Many%d", i)), "request": map[string]any{"method": "POST", "url": "Patient"}})
		c := privacyConsent("x", map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
			"class": []any{map[string]any{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}}}}})
		c["patient"] = ref(u)
		es = append(es, map[string]any{"resource": c, "request": map[string]any{"method": "POST", "url": "Consent"}})
	}
	s.expect(s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": es}), 200)
	for _, tok := range []string{w.clinician, w.registrant, s.token} {
		for _, q := range []string{"/Patient?_count=5", "/Observation?_count=5", "/Condition?_count=5"} {
			if r := s.do("GET", q, nil, bearerOf(tok)...); r.status != 200 && r.status != 403 {
				t.Fatalf("%s: %d %.200s", q, r.status, r.body)
			}
		}
	}
	// Patient A's Observation carries none of the denied labels, but A's
	// exceptions are past the bound: searches hide A, reads decide exactly.
	if got := ids(s.expect(s.do("GET", "/Observation?patient="+w.a.id, nil, bearerOf(w.clinician)...), 200)); len(got) != 0 {
		t.Fatalf("a patient with too many exceptions in a search: %v", got)
	}
	s.expect(s.do("GET", "/Observation/"+w.a.ids["Observation"], nil, bearerOf(w.clinician)...), 200)
}

// A user with two roles gets what one of them allows, never a mix: a
// clinician who also works at registration does not see restricted
// (R) patients she does not treat.
func TestRolesDoNotMix(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	p := patient("Restricted")
	p["meta"] = label(systemConfidentiality, "R")
	pid := s.create(p)["id"].(string)
	enc := encounter(pid, time.Now().AddDate(0, -6, 0), time.Now().AddDate(0, -6, 1))
	delete(enc, "participant")
	eid := s.create(enc)["id"].(string)
	both := s.roleToken(w.app, "w.both", []string{"clinician", "registration"}, "dr", "", "user/*.cruds")
	for _, path := range []string{"/Patient/" + pid, "/Encounter/" + eid} {
		if r := s.do("GET", path, nil, bearerOf(both)...); r.status == 200 {
			t.Errorf("clinician+registration GET %s: 200", path)
		}
	}
	if got := ids(s.expect(s.do("GET", "/Patient?_id="+pid, nil, bearerOf(both)...), 200)); len(got) != 0 {
		t.Errorf("clinician+registration search: %v", got)
	}
	// Each role's own reach stays: registration's every (unlabelled)
	// patient, the clinician's related patient's Observations.
	s.expect(s.do("GET", "/Patient/"+w.b.id, nil, bearerOf(both)...), 200)
	s.expect(s.do("GET", "/Observation/"+w.a.ids["Observation"], nil, bearerOf(both)...), 200)
}

// One break-the-glass reason opens one patient: a batch naming several
// opens none, a lenient search's ignored parameter opens none, and a
// reason must say something.
func TestBreakTheGlassOpensOnePatient(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	c, d := makeFixture(s, "unrel"), makeFixture(s, "unrel")
	var es []any
	for _, fp := range []*fixturePatient{w.b, c, d} {
		es = append(es, map[string]any{"request": map[string]any{"method": "GET", "url": "Patient/" + fp.id}})
	}
	s.expect(s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "batch", "entry": es}, bearerOf(w.clinician, "X-Break-Glass-Reason", "one reason")...), 200)
	for _, fp := range []*fixturePatient{w.b, c, d} {
		if r := s.do("GET", "/Condition/"+fp.ids["Condition"], nil, bearerOf(w.clinician)...); r.status != 403 {
			t.Fatalf("after a batch with a reason: %d", r.status)
		}
	}
	s.do("GET", "/Practitioner?patient="+c.id, nil, bearerOf(w.clinician, "X-Break-Glass-Reason", "lenient probe", "Prefer", "handling=lenient")...)
	if r := s.do("GET", "/Condition/"+c.ids["Condition"], nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("after a search whose patient parameter was ignored: %d", r.status)
	}
	// A reason that says nothing is refused as bad input (400), and
	// grants nothing; a blank header is no header (403).
	for _, reason := range []string{"\u200b", "\u2800", "\ufeff", "a.", "--"} {
		r := s.do("GET", "/Observation/"+d.ids["Observation"], nil, bearerOf(w.clinician, "X-Break-Glass-Reason", reason)...)
		if r.status != 400 || !strings.Contains(string(r.body), "OperationOutcome") {
			t.Fatalf("reason %q: %d %s", reason, r.status, r.body)
		}
	}
	for _, reason := range []string{" ", "\t"} {
		if r := s.do("GET", "/Observation/"+d.ids["Observation"], nil, bearerOf(w.clinician, "X-Break-Glass-Reason", reason)...); r.status != 403 {
			t.Fatalf("blank reason %q: %d", reason, r.status)
		}
	}
	if r := s.do("GET", "/Observation/"+d.ids["Observation"], nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("after reasons that say nothing: %d", r.status)
	}
}

// A restricted code is restricted in any code system, on reads and
// searches alike, on a resource and on a Patient.
func TestRestrictedCodesInAnySystem(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	for _, sec := range []map[string]any{{"system": "http://hl7.org/fhir/v3/Confidentiality", "code": "V"}, {"code": "PSY"}} {
		o := clinical("Observation", w.a.id)
		o["meta"] = map[string]any{"security": []any{sec}}
		id := s.create(o)["id"].(string)
		if r := s.do("GET", "/Observation/"+id, nil, bearerOf(w.clinician)...); r.status != 403 {
			t.Errorf("%v: read %d", sec, r.status)
		}
		if got := ids(s.expect(s.do("GET", "/Observation?_id="+id, nil, bearerOf(w.clinician)...), 200)); len(got) != 0 {
			t.Errorf("%v: search %v", sec, got)
		}
	}
	p := patient("Legacyvip")
	p["meta"] = map[string]any{"security": []any{map[string]any{"code": "V"}}}
	pid := s.create(p)["id"].(string)
	s.create(careTeam(pid, "dr"))
	obs := s.create(clinical("Observation", pid))["id"].(string)
	if r := s.do("GET", "/Observation/"+obs, nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Errorf("a compartment whose Patient is labelled V without system: %d", r.status)
	}
}

// No existence oracle through types in no compartment, deleted labelled
// resources, or the wording of a vread.
func TestEvenMoreRefusalsRevealNothing(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	task := s.create(map[string]any{"resourceType": "Task", "status": "requested", "intent": "order"})["id"].(string)
	pairs := [][2]string{{"/Task/" + task, "/Task/no-such"}, {"/Task/" + task + "/_history", "/Task/no-such/_history"},
		{"/Task/" + task + "/_history/1", "/Task/no-such/_history/1"}}
	for _, p := range pairs {
		r1, r2 := s.do("GET", p[0], nil, bearerOf(w.clinician)...), s.do("GET", p[1], nil, bearerOf(w.clinician)...)
		if r1.status != r2.status || string(r1.body) != string(r2.body) {
			t.Errorf("%s %d vs %s %d", p[0], r1.status, p[1], r2.status)
		}
	}
	if r1, r2 := s.do("DELETE", "/Task/"+task, nil, bearerOf(w.clinician)...), s.do("DELETE", "/Task/no-such", nil, bearerOf(w.clinician)...); r1.status != r2.status {
		t.Errorf("DELETE of a Task: %d vs %d", r1.status, r2.status)
	}
	billing := s.roleToken(w.app, "w.billing3", []string{"billing"}, "", "", "user/*.cruds")
	cl := clinical("Claim", w.b.id)
	cl["meta"] = label(systemActCode, "PSY")
	live := s.create(cl)["id"].(string)
	gone := s.create(cl)["id"].(string)
	s.expect(s.do("DELETE", "/Claim/"+gone, nil), 204)
	same := func(a, b string, tok string) {
		r1, r2 := s.do("GET", a, nil, bearerOf(tok)...), s.do("GET", b, nil, bearerOf(tok)...)
		if r1.status != r2.status || string(r1.body) != string(r2.body) || r1.header.Get("ETag") != r2.header.Get("ETag") {
			t.Errorf("%s: %d %s / %s: %d %s", a, r1.status, r1.body, b, r2.status, r2.body)
		}
	}
	same("/Claim/"+gone, "/Claim/no-such", billing)
	same("/Claim/"+live+"/_history/1", "/Claim/no-such/_history/1", billing)
	same("/Claim/"+gone+"/_history/2", "/Claim/no-such/_history/2", billing)
	o := clinical("Observation", w.a.id)
	o["meta"] = label(systemActCode, "PSY")
	g := s.create(o)["id"].(string)
	s.expect(s.do("DELETE", "/Observation/"+g, nil), 204)
	same("/Observation/"+g, "/Observation/no-such", w.clinician)
}

// Chained string conditions match like top-level ones (starts-with on the
// whole value, not on its index bucket), constraints included.
func TestChainedPrefixIsExact(t *testing.T) {
	s := newTestServer(t)
	a := s.create(patient("Smart"))["id"].(string)
	b := s.create(patient("Smalley"))["id"].(string)
	s.create(clinical("Observation", a))
	ob := s.create(clinical("Observation", b))["id"].(string)
	for _, q := range []string{"/Observation?subject:Patient.name=Smalley", "/Observation?subject:Patient.name=smal"} {
		if got := ids(s.expect(s.do("GET", q, nil), 200)); len(got) != 1 || got[0] != "Observation/"+ob {
			t.Errorf("%s: %v", q, got)
		}
	}
	if got := ids(s.expect(s.do("GET", "/Patient?_has:Observation:subject:_id="+ob+"&name=Smalley", nil), 200)); len(got) != 1 {
		t.Errorf("_has with a name: %v", got)
	}
	tok := s.serviceToken("system/Observation.rs?subject:Patient.name=Smalley system/Patient.rs")
	if got := ids(s.expect(s.do("GET", "/Observation", nil, bearerOf(tok)...), 200)); len(got) != 1 || !strings.Contains(got[0], ob) {
		t.Errorf("a chained constraint: %v", got)
	}
}
