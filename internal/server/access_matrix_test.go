package server

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// matrixRow is one line of testdata/access/matrix.tsv.
type matrixRow struct {
	line                                     int
	role, state, target, interaction, expect string
}

func readMatrix(t *testing.T) []matrixRow {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "access", "matrix.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []matrixRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 5 {
			t.Fatalf("matrix.tsv:%d: %d columns", n, len(c))
		}
		rows = append(rows, matrixRow{n, c[0], c[1], c[2], c[3], c[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// fixturePatient is one patient of the matrix's data set and its
// resources (id by type), with the bodies as created.
type fixturePatient struct {
	id     string
	ids    map[string]string
	bodies map[string]map[string]any
}

const (
	systemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	systemActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

func label(system, code string) map[string]any {
	return map[string]any{"security": []any{map[string]any{"system": system, "code": code}}}
}

func ref(s string) map[string]any { return map[string]any{"reference": s} }

// clinical returns a new resource of typ in patient pid's compartment.
func clinical(typ, pid string) map[string]any {
	switch typ {
	case "Observation":
		return map[string]any{"resourceType": "Observation", "status": "final",
			"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
			"subject": ref("Patient/" + pid)}
	case "Condition":
		return map[string]any{"resourceType": "Condition", "code": map[string]any{"text": "asthma"}, "subject": ref("Patient/" + pid)}
	case "Coverage":
		return map[string]any{"resourceType": "Coverage", "status": "active", "beneficiary": ref("Patient/" + pid),
			"payor": []any{ref("Organization/org1")}}
	case "Claim":
		return map[string]any{"resourceType": "Claim", "status": "active", "use": "claim", "created": "2026-01-01",
			"type":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}}},
			"patient":   ref("Patient/" + pid),
			"provider":  ref("Organization/org1"),
			"priority":  map[string]any{"coding": []any{map[string]any{"code": "normal"}}},
			"insurance": []any{map[string]any{"sequence": 1, "focal": true, "coverage": ref("Coverage/cov1")}}}
	case "Patient":
		return patient("Newfamily")
	case "Practitioner":
		return map[string]any{"resourceType": "Practitioner", "name": []any{map[string]any{"family": "Newdoc"}}}
	case "Organization":
		return map[string]any{"resourceType": "Organization", "name": "New clinic"}
	}
	panic("no fixture for " + typ)
}

func privacyConsent(pid string, provision map[string]any) map[string]any {
	return map[string]any{"resourceType": "Consent", "status": "active",
		"scope":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category":   []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0"}}}},
		"patient":    ref("Patient/" + pid),
		"policyRule": map[string]any{"coding": []any{map[string]any{"system": systemActCode, "code": "OPTOUT"}}},
		"provision":  provision}
}

func encounter(pid string, start, end time.Time) map[string]any {
	e := map[string]any{"resourceType": "Encounter", "status": "in-progress",
		"class":   map[string]any{"system": systemActCode, "code": "AMB"},
		"subject": ref("Patient/" + pid),
		"participant": []any{map[string]any{"individual": ref("Practitioner/dr")},
			map[string]any{"individual": ref("Practitioner/rn")}},
		"period": map[string]any{"start": start.UTC().Format(time.RFC3339)}}
	if !end.IsZero() {
		e["status"] = "finished"
		e["period"].(map[string]any)["end"] = end.UTC().Format(time.RFC3339)
	}
	return e
}

// makeFixture creates the patient of a state with its resources.
func makeFixture(s *testServer, state string) *fixturePatient {
	s.t.Helper()
	p := patient("Matrix" + strings.ReplaceAll(state, "-", ""))
	switch state {
	case "gp":
		p["generalPractitioner"] = []any{ref("Practitioner/dr"), ref("Practitioner/rn")}
	case "vip":
		p["meta"] = label(systemConfidentiality, "V")
	}
	fp := &fixturePatient{ids: map[string]string{}, bodies: map[string]map[string]any{}}
	created := s.create(p)
	fp.id = created["id"].(string)
	fp.ids["Patient"], fp.bodies["Patient"] = fp.id, created
	for _, typ := range []string{"Observation", "Condition", "Coverage", "Claim"} {
		r := clinical(typ, fp.id)
		if typ == "Observation" && state == "psy" {
			r["meta"] = label(systemActCode, "PSY")
		}
		c := s.create(r)
		fp.ids[typ], fp.bodies[typ] = c["id"].(string), c
	}
	now := time.Now()
	switch state {
	case "rel", "consent-deny", "consent-obs", "vip", "psy":
		ct := careTeam(fp.id, "dr")
		ct["participant"] = append(ct["participant"].([]any), map[string]any{"member": ref("Practitioner/rn")})
		s.create(ct)
	case "enc":
		s.create(encounter(fp.id, now.Add(-48*time.Hour), time.Time{}))
	case "oldenc":
		s.create(encounter(fp.id, now.Add(-90*24*time.Hour), now.Add(-60*24*time.Hour)))
	}
	switch state {
	case "consent-deny":
		s.create(privacyConsent(fp.id, map[string]any{"type": "deny"}))
	case "consent-obs":
		s.create(privacyConsent(fp.id, map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
			"class": []any{map[string]any{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}}}}}))
	}
	return fp
}

// roleToken signs up an account and issues it a token the way the
// authorization endpoint would (consent screen bypassed), carrying the
// account's fhirUser and, for a patient, the patient in context.
func (s *testServer) roleToken(client, username string, roles []string, practitioner, patientID, scope string) string {
	s.t.Helper()
	if _, _, err := s.node.AddUser(localCtx(), auth.NewUser{Username: username, Roles: roles, Practitioner: practitioner, Patient: patientID, Organization: s.org}); err != nil {
		s.t.Fatal(err)
	}
	u, err := s.node.Accounts.ByName(context.Background(), username)
	if err != nil {
		s.t.Fatal(err)
	}
	a := oauth.Approval{Subject: u.ID, Scopes: strings.Fields(scope), Roles: roles}
	switch {
	case patientID != "":
		a.FHIRUser, a.Patient = "Patient/"+patientID, patientID
	case practitioner != "":
		a.FHIRUser = "Practitioner/" + practitioner
	}
	if s.launch != "" {
		a.Patient = s.launch
	}
	a.Organization = s.org
	return s.approvedToken(client, scope, a)
}

// TestAuthorizationMatrix runs every row of testdata/access/matrix.tsv
// (the default policy's documentation) against the HTTP API.
func TestAuthorizationMatrix(t *testing.T) {
	rows := readMatrix(t)
	if len(rows) < 300 {
		t.Fatalf("matrix.tsv has %d rows, want at least 300", len(rows))
	}
	s := newTestServer(t)
	for _, id := range []string{"dr", "rn"} {
		pr := clinical("Practitioner", "")
		pr["id"] = id
		s.expect(s.do("PUT", "/Practitioner/"+id, pr), http.StatusCreated)
	}
	org := clinical("Organization", "")
	org["id"] = "org1"
	s.expect(s.do("PUT", "/Organization/org1", org), http.StatusCreated)
	fixtures := map[string]*fixturePatient{}
	for _, st := range []string{"rel", "enc", "gp", "oldenc", "unrel", "consent-deny", "consent-obs", "vip", "psy", "own"} {
		fixtures[st] = makeFixture(s, st)
	}
	app, _, err := oauth.Register(context.Background(), s.node.DB, oauth.ClientSpec{Name: "Matrix App", Kind: oauth.Public,
		RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"user/*.cruds patient/*.cruds launch/patient"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"clinician": s.roleToken(app.ID, "m.clinician", []string{"clinician"}, "dr", "", "user/*.cruds"),
		"nurse":     s.roleToken(app.ID, "m.nurse", []string{"nurse"}, "rn", "", "user/*.cruds"),
		"patient":   s.roleToken(app.ID, "m.patient", []string{"patient"}, "", fixtures["own"].id, "patient/*.cruds launch/patient"),
		"service":   s.serviceToken("system/*.cruds"),
	}
	for _, r := range []string{"registration", "billing", "researcher", "auditor", "admin"} {
		tokens[r] = s.roleToken(app.ID, "m."+r, []string{r}, "", "", "user/*.cruds")
	}
	tenant := map[string]string{"Practitioner": "dr", "Organization": "org1"}
	failures := 0
	for _, row := range rows {
		tok := tokens[row.role]
		if tok == "" {
			t.Fatalf("matrix.tsv:%d: unknown role %q", row.line, row.role)
		}
		headers := []string{"Authorization", "Bearer " + tok}
		var fp *fixturePatient
		var id string
		switch {
		case row.state == "-":
			id = tenant[row.target]
		case row.state == "btg":
			fp = makeFixture(s, "btg")
			headers = append(headers, "X-Break-Glass-Reason", "unconscious patient in the emergency department")
		default:
			fp = fixtures[row.state]
		}
		if fp != nil {
			id = fp.ids[row.target]
		}
		if id == "" {
			t.Fatalf("matrix.tsv:%d: no %s in state %s", row.line, row.target, row.state)
		}
		got := ""
		switch row.interaction {
		case "read":
			got = strconv.Itoa(s.do("GET", "/"+row.target+"/"+id, nil, headers...).status)
		case "search":
			q := "patient=" + url.QueryEscape(fp.idOr())
			switch {
			case fp == nil || row.target == "Patient":
				q = "_id=" + id
			case row.target == "Coverage":
				q = "beneficiary=" + fp.id
			}
			r := s.do("GET", "/"+row.target+"?"+q, nil, headers...)
			switch {
			case r.status != 200:
				got = strconv.Itoa(r.status)
			case slices.ContainsFunc(entries(r.json(t)), func(e map[string]any) bool { return e["id"] == id }):
				got = "found"
			default:
				got = "hidden"
			}
		case "create":
			body := clinical(row.target, "")
			if fp != nil && row.target != "Patient" {
				body = clinical(row.target, fp.id)
			}
			got = strconv.Itoa(s.do("POST", "/"+row.target, body, headers...).status)
		case "update":
			var body map[string]any
			if fp != nil {
				body = fp.bodies[row.target]
			} else {
				body = clinical(row.target, "")
				body["id"] = id
			}
			got = strconv.Itoa(s.do("PUT", "/"+row.target+"/"+id, body, headers...).status)
		default:
			t.Fatalf("matrix.tsv:%d: unknown interaction %q", row.line, row.interaction)
		}
		if got != row.expect {
			failures++
			t.Errorf("matrix.tsv:%d: %s %s %s of %s: got %s, want %s", row.line, row.role, row.interaction, row.target, row.state, got, row.expect)
		}
	}
	if failures > 0 {
		t.Logf("%d of %d rows failed", failures, len(rows))
	}
}

func (fp *fixturePatient) idOr() string {
	if fp == nil {
		return ""
	}
	return fp.id
}
