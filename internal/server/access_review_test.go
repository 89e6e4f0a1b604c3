package server

import (
	"net/http"
	"strings"
	"testing"
)

// Resources in no patient compartment (a Task, a Device, an Observation
// whose subject is an absolute URL) are for roles that reach every patient;
// principals limited by patient reach only the directory types.
func TestUnownedResourcesNeedFullReach(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	task := s.create(map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
		"for": ref("Patient/" + w.b.id)})["id"].(string)
	dev := s.create(map[string]any{"resourceType": "Device", "patient": ref("Patient/" + w.b.id)})["id"].(string)
	abs := clinical("Observation", w.b.id)
	abs["subject"] = ref(s.url + "/Patient/" + w.b.id)
	absID := s.create(abs)["id"].(string)
	for name, tok := range map[string]string{"patient": w.patient, "clinician": w.clinician} {
		for _, p := range []string{"/Task/" + task, "/Device/" + dev, "/Observation/" + absID} {
			if r := s.do("GET", p, nil, bearerOf(tok)...); r.status != 403 {
				t.Errorf("%s GET %s: %d", name, p, r.status)
			}
		}
		if got := ids(s.expect(s.do("GET", "/Task?_id="+task, nil, bearerOf(tok)...), 200)); len(got) != 0 {
			t.Errorf("%s searching Tasks: %v", name, got)
		}
		// The directory stays in reach.
		s.expect(s.do("GET", "/Practitioner/dr", nil, bearerOf(tok)...), 200)
	}
	if r := s.do("POST", "/Task", map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
		"for": ref("Patient/" + w.b.id)}, bearerOf(w.clinician)...); r.status != 403 {
		t.Errorf("a clinician creating an unowned Task: %d", r.status)
	}
	// A role that reaches every patient reads them.
	s.expect(s.do("GET", "/Task/"+task, nil), 200)
}

// Someone a patient's consent limits cannot change the patient's consents.
func TestConsentCannotBeLiftedByThoseItLimits(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	co := makeFixture(s, "consent-obs")
	cs := entries(s.expect(s.do("GET", "/Consent?patient="+co.id, nil), 200))
	if len(cs) != 1 {
		t.Fatalf("consents: %d", len(cs))
	}
	c := cs[0]
	c["status"] = "inactive"
	if r := s.do("PUT", "/Consent/"+c["id"].(string), c, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("a limited clinician deactivating the consent: %d %s", r.status, r.body)
	}
	if r := s.do("DELETE", "/Consent/"+c["id"].(string), nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("a limited clinician deleting the consent: %d", r.status)
	}
	if r := s.do("GET", "/Observation/"+co.ids["Observation"], nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("the consent no longer applies: %d", r.status)
	}
	// A clinician the patient's consents do not limit may record one.
	s.expect(s.do("POST", "/Consent", privacyConsent(w.a.id, map[string]any{"type": "permit"}), bearerOf(w.clinician)...), http.StatusCreated)
}

// Consents the policy cannot read fully are applied the safe way.
func TestConsentShapesFailClosed(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	read := func(fp *fixturePatient) int {
		return s.do("GET", "/Observation/"+fp.ids["Observation"], nil, bearerOf(w.clinician)...).status
	}
	// A versioned patient reference.
	p := makeFixture(s, "rel")
	c := privacyConsent(p.id, map[string]any{"type": "deny"})
	c["patient"] = ref("Patient/" + p.id + "/_history/1")
	s.create(c)
	if st := read(p); st != 403 {
		t.Errorf("deny consent with a versioned patient reference: %d", st)
	}
	// A class that is not a resource type.
	q := makeFixture(s, "rel")
	s.create(privacyConsent(q.id, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
		"class": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}}}}))
	if st := read(q); st != 403 {
		t.Errorf("deny of a class that is no resource type: %d", st)
	}
	// A policy rule without provisions.
	r := makeFixture(s, "rel")
	oc := privacyConsent(r.id, nil)
	delete(oc, "provision")
	s.create(oc)
	if st := read(r); st != 403 {
		t.Errorf("an OPTOUT consent without provisions: %d", st)
	}
	// A consent whose patient reference does not name its compartment
	// (an absolute URL) only restricts: under opt-in it opens nothing.
	cfg := testConfig(t)
	withPolicy(t, &cfg, func(p map[string]any) { p["consent"] = map[string]any{"default": "deny"} })
	s2 := openAt(t, cfg)
	w2 := newAccessWorld(t, s2)
	if st := s2.do("GET", "/Patient/"+w2.b.id, nil, bearerOf(w2.registrant)...).status; st != 404 {
		t.Fatalf("opt-in without consent: %d", st)
	}
	pc := privacyConsent(w2.b.id, map[string]any{"type": "permit"})
	pc["patient"] = ref("https://elsewhere.example/fhir/Patient/" + w2.b.id)
	s2.create(pc)
	if st := s2.do("GET", "/Patient/"+w2.b.id, nil, bearerOf(w2.registrant)...).status; st != 404 {
		t.Fatalf("a permit naming the patient by URL opened the record: %d", st)
	}
}

// A patient's own access report shows what concerns them only.
func TestAccessReportForThePatientIsRedacted(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	s.expect(s.do("GET", "/Patient?name=Matrix&_count=50", nil, bearerOf(w.registrant)...), 200)
	waitFor(t, func() bool { // the search's record is in the log
		return strings.Contains(jsonString(s.expect(s.do("GET", "/Patient/"+w.a.id+"/$access-report", nil, bearerOf(w.patient)...), 200)), "search")
	})
	rep := jsonString(s.expect(s.do("GET", "/Patient/"+w.a.id+"/$access-report", nil, bearerOf(w.patient)...), 200))
	if strings.Contains(rep, "Patient/"+w.b.id) || strings.Contains(rep, `"query"`) || !strings.Contains(rep, "Patient/"+w.a.id) {
		t.Fatalf("the patient's report: %.600s", rep)
	}
	auditor := s.roleToken(w.app, "w.auditor2", []string{"auditor"}, "", "", "user/AuditEvent.rs")
	if full := jsonString(s.expect(s.do("GET", "/Patient/"+w.a.id+"/$access-report", nil, bearerOf(auditor)...), 200)); !strings.Contains(full, `"query"`) {
		t.Fatal("the auditor's report lost the query")
	}
}

// Mixed patient/ and constrained user/ scopes: the user/ scopes decide,
// whatever their order.
func TestMixedScopesDoNotWiden(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	c := makeFixture(s, "rel")
	lab := "user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	s.launch = w.a.id
	defer func() { s.launch = "" }()
	for i, scope := range []string{lab, lab + " patient/Observation.rs", "patient/Observation.rs " + lab} {
		tok := s.roleToken(w.app, "w.mixed"+string(rune('a'+i)), []string{"clinician"}, "dr", "", scope+" launch/patient")
		if r := s.do("GET", "/Observation/"+c.ids["Observation"], nil, bearerOf(tok)...); r.status != 403 {
			t.Errorf("%q: a non-laboratory Observation of another patient: %d", scope, r.status)
		}
	}
}

// A constrained scope reaches current versions only, and writes nothing.
func TestConstrainedScopesReachCurrentVersions(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	cat := func(code string) []any {
		return []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code}}}}
	}
	labOnly := s.roleToken(w.app, "w.labonly2", []string{"clinician"}, "dr", "", "user/Observation.cruds?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	o := clinical("Observation", w.a.id)
	o["category"] = cat("social-history")
	o["valueString"] = "old secret"
	c := s.create(o)
	c["category"] = cat("laboratory")
	c["valueString"] = "now lab"
	s.expect(s.do("PUT", "/Observation/"+c["id"].(string), c), 200)
	id := c["id"].(string)
	s.expect(s.do("GET", "/Observation/"+id, nil, bearerOf(labOnly)...), 200)
	for _, p := range []string{"/Observation/" + id + "/_history/1", "/Observation/" + id + "/_history", "/Observation/" + w.a.ids["Observation"] + "/_history"} {
		if r := s.do("GET", p, nil, bearerOf(labOnly)...); r.status != 403 || strings.Contains(string(r.body), "old secret") {
			t.Errorf("GET %s under a constrained scope: %d", p, r.status)
		}
	}
	v := clinical("Observation", w.a.id)
	v["category"] = cat("vital-signs")
	if r := s.do("POST", "/Observation", v, bearerOf(labOnly)...); r.status != 403 {
		t.Errorf("a create under a constrained scope: %d", r.status)
	}
	if r := s.do("DELETE", "/Observation/"+w.a.ids["Observation"], nil, bearerOf(labOnly)...); r.status != 403 {
		t.Errorf("a delete under a constrained scope: %d", r.status)
	}
	s.expect(s.do("GET", "/Observation/"+w.a.ids["Observation"], nil), 200)
}

// No oracle through transactions of deleted resources, the break-the-glass
// header, or deletes by a principal that reaches every patient.
func TestMoreRefusalsRevealNothing(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	gone := s.create(clinical("Observation", w.b.id))["id"].(string)
	s.expect(s.do("DELETE", "/Observation/"+gone, nil), 204)
	tx := func(u string, hdr ...string) *response {
		return s.do("POST", "/", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
			map[string]any{"request": map[string]any{"method": "GET", "url": u}}}}, bearerOf(w.clinician, hdr...)...)
	}
	if r1, r2 := tx("Observation/"+gone), tx("Observation/no-such"); r1.status != 403 || r2.status != 403 || string(r1.body) != string(r2.body) {
		t.Errorf("transaction reads of deleted and missing: %d %s / %d %s", r1.status, r1.body, r2.status, r2.body)
	}
	psy := makeFixture(s, "psy")
	h := []string{"X-Break-Glass-Reason", "probe"}
	r1 := s.do("GET", "/Observation/"+psy.ids["Observation"], nil, bearerOf(w.clinician, h...)...)
	r2 := s.do("GET", "/Observation/no-such", nil, bearerOf(w.clinician, h...)...)
	if r1.status != r2.status || string(r1.body) != string(r2.body) {
		t.Errorf("with the break-the-glass header: labelled %d, missing %d", r1.status, r2.status)
	}
	billing := s.roleToken(w.app, "w.billing2", []string{"billing"}, "", "", "user/*.cruds")
	cl := clinical("Claim", w.b.id)
	cl["meta"] = label(systemActCode, "PSY")
	hidden := s.create(cl)["id"].(string)
	for _, p := range []string{"/Claim/" + hidden, "/Claim/no-such"} {
		if r := s.do("DELETE", p, nil, bearerOf(billing)...); r.status != 204 {
			t.Errorf("billing DELETE %s: %d", p, r.status)
		}
	}
	s.expect(s.do("GET", "/Claim/"+hidden, nil), 200) // not deleted
}

// A refused search that broke the glass is audited with its reason, and a
// removed relationship ends at once.
func TestGlassAuditAndRelationshipRemoval(t *testing.T) {
	s := newTestServer(t)
	w := newAccessWorld(t, s)
	c := makeFixture(s, "unrel")
	o := clinical("Observation", c.id)
	o["performer"] = []any{ref("Practitioner/dr")}
	s.create(o)
	narrow := s.roleToken(w.app, "w.narrow", []string{"clinician"}, "dr", "", "user/Observation.rs user/Condition.rs")
	r := s.do("GET", "/Observation?patient="+c.id+"&_include=Observation:performer", nil, bearerOf(narrow, "X-Break-Glass-Reason", "sepsis")...)
	if r.status != 403 {
		t.Fatalf("include of an unscoped type: %d", r.status)
	}
	waitFor(t, func() bool {
		size, _ := s.node.DB.AuditHead()
		for _, ev := range s.auditEvents(size) {
			if js := jsonString(ev); strings.Contains(js, "BTG") && strings.Contains(js, "sepsis") {
				return true
			}
		}
		return false
	})
	gp := makeFixture(s, "gp")
	s.expect(s.do("GET", "/Observation/"+gp.ids["Observation"], nil, bearerOf(w.clinician)...), 200)
	p := s.expect(s.do("GET", "/Patient/"+gp.id, nil), 200)
	delete(p, "generalPractitioner")
	s.expect(s.do("PUT", "/Patient/"+gp.id, p), 200)
	if r := s.do("GET", "/Observation/"+gp.ids["Observation"], nil, bearerOf(w.clinician)...); r.status != 403 {
		t.Fatalf("right after the general practitioner was removed: %d", r.status)
	}
}

// A request may state its purpose of use, one its role may state; consents
// limited to a purpose apply to requests that state it (the role's purpose
// otherwise), and a purpose never opens the way to changing a consent.
func TestPurposeOfUseHeader(t *testing.T) {
	cfg := testConfig(t)
	withPolicy(t, &cfg, func(p map[string]any) { role(p, "clinician")["purposes"] = []any{"HRESCH"} })
	s := openAt(t, cfg)
	w := newAccessWorld(t, s)
	p := makeFixture(s, "rel")
	s.create(privacyConsent(p.id, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
		"purpose": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}}}}}))
	path := "/Observation/" + p.ids["Observation"]
	s.expect(s.do("GET", path, nil, bearerOf(w.clinician)...), 200)
	if r := s.do("GET", path, nil, bearerOf(w.clinician, "X-Purpose-Of-Use", "HRESCH")...); r.status != 403 {
		t.Fatalf("research purpose against a consent that denies research: %d", r.status)
	}
	s.expect(s.do("GET", path, nil, bearerOf(w.clinician, "X-Purpose-Of-Use", "TREAT")...), 200)
	if r := s.do("GET", path, nil, bearerOf(w.clinician, "X-Purpose-Of-Use", "HPAYMT")...); r.status != 403 {
		t.Fatalf("a purpose the role may not state: %d", r.status)
	}
	for _, bad := range []string{"treat", "TREAT;HPAYMT", strings.Repeat("A", 21)} {
		if r := s.do("GET", path, nil, bearerOf(w.clinician, "X-Purpose-Of-Use", bad)...); r.status != 400 || !strings.Contains(string(r.body), "X-Purpose-Of-Use") {
			t.Fatalf("purpose %q: %d %s", bad, r.status, r.body)
		}
	}
	// A consent limited to treatment: stating research does not let the
	// clinician delete it.
	q := makeFixture(s, "rel")
	cid := s.create(privacyConsent(q.id, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
		"purpose": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}}}}}))["id"].(string)
	if r := s.do("DELETE", "/Consent/"+cid, nil, bearerOf(w.clinician, "X-Purpose-Of-Use", "HRESCH")...); r.status != 403 {
		t.Fatalf("deleting a treatment consent while stating research: %d", r.status)
	}
}

// A user's organization comes with the token: organization-wide rules for
// members, and consents naming an organization, apply to its members only.
func TestOrganizationRulesAndConsents(t *testing.T) {
	cfg := testConfig(t)
	withPolicy(t, &cfg, func(p map[string]any) {
		p["relationship"] = map[string]any{"encounterDays": 30, "organizations": []any{
			map[string]any{"organization": "Organization/ward7", "roles": []any{"nurse"}, "members": true}}}
		// The service records consents: a deny naming an organization
		// would otherwise apply to it too (its organization is unknown),
		// and those a consent limits may not change consents.
		role(p, "service")["consentExempt"] = true
	})
	s := openAt(t, cfg)
	w := newAccessWorld(t, s)
	managed := patient("Wardfamily")
	managed["managingOrganization"] = ref("Organization/ward7")
	pid := s.create(managed)["id"].(string)
	obs := s.create(clinical("Observation", pid))["id"].(string)
	s.org = "ward7"
	member := s.roleToken(w.app, "w.ward7nurse", []string{"nurse"}, "n7", "", "user/*.cruds")
	noPractitioner := s.roleToken(w.app, "w.ward7float", []string{"nurse"}, "", "", "user/*.cruds")
	s.org = "ward8"
	other := s.roleToken(w.app, "w.ward8nurse", []string{"nurse"}, "n8", "", "user/*.cruds")
	s.org = ""
	s.expect(s.do("GET", "/Observation/"+obs, nil, bearerOf(member)...), 200)
	// The rule is the organization's: a member without a Practitioner
	// reaches its patients too.
	s.expect(s.do("GET", "/Observation/"+obs, nil, bearerOf(noPractitioner)...), 200)
	if r := s.do("GET", "/Observation/"+obs, nil, bearerOf(other)...); r.status != 403 {
		t.Fatalf("a nurse of another organization: %d", r.status)
	}
	// A consent that denies ward8 leaves ward7's nurse alone; one that
	// denies ward7 stops her.
	deny := func(org string) map[string]any {
		return privacyConsent(pid, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
			"actor": []any{map[string]any{"role": map[string]any{"text": "organization"}, "reference": ref("Organization/" + org)}}}}})
	}
	s.create(deny("ward8"))
	s.expect(s.do("GET", "/Observation/"+obs, nil, bearerOf(member)...), 200)
	s.create(deny("ward7"))
	if r := s.do("GET", "/Observation/"+obs, nil, bearerOf(member)...); r.status != 403 {
		t.Fatalf("a consent denying her organization: %d", r.status)
	}
}
