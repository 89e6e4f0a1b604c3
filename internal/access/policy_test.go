package access

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultPolicyParses(t *testing.T) {
	r, err := ParsePolicy(DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clinician", "nurse", "registration", "billing", "researcher", "auditor", "admin", "patient", "service"} {
		if r.roles[name] == nil {
			t.Errorf("the default policy has no role %s", name)
		}
	}
	if r.BreakGlassFor() != time.Hour || r.EncounterWindow() != 30*24*time.Hour {
		t.Errorf("defaults: %v %v", r.BreakGlassFor(), r.EncounterWindow())
	}
}

// A policy file that is wrong in any way is refused with a message naming
// what is wrong: a misspelt setting must not widen or narrow access.
func TestPolicyFileErrors(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{`{"roles": {"x": {"grants": {"*": "cruds"}, "patient": "all"}}}`, "unknown field"},
		{`{"roles": {"x": {"grants": {"*": "cruds"}, "patients": "everyone"}}}`, "patients must be"},
		{`{"roles": {"x": {"grants": {"Observation": "rc"}}}}`, "cruds"},
		{`{"roles": {"x": {"grants": {"observation": "r"}}}}`, "not a resource type"},
		{`{"roles": {"x": {"grants": {}, "labels": ["TOPSECRET"]}}}`, "not a restricted label"},
		{`{"roles": {"x": {"grants": {}, "patients": "all", "breakGlass": true}}}`, "breakGlass"},
		{`{"consent": {"default": "maybe"}, "roles": {"x": {"grants": {}}}}`, "consent.default"},
		{`{"breakGlass": {"minutes": 100000}, "roles": {"x": {"grants": {}}}}`, "breakGlass.minutes"},
		{`{"relationship": {"organizations": [{"organization": "Practitioner/1", "roles": ["nurse"]}]}, "roles": {"x": {"grants": {}}}}`, "Organization/ID"},
		{`{"directory": ["Observation*"], "roles": {"x": {"grants": {}}}}`, "directory"},
		{`{"roles": {}}`, "no roles"},
		{`{"roles": {"x": {"grants": {}}}} {}`, "trailing"},
		{" \n", "empty"},
	} {
		_, err := ParsePolicy([]byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", c.file, err, c.want)
		}
	}
}

// Consent evaluation: nested provisions override, deny wins, requests are
// matched by actor, purpose and period; what cannot be matched is applied
// the safe way.
func TestConsentRules(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	obs := Provision{Deny: true, Classes: []string{"Observation"}}
	psy := Label{System: SystemActCode, Code: "PSY"}
	cases := []struct {
		name    string
		root    Provision
		purpose string
		typ     string
		labels  []Label
		allow   bool
	}{
		{"no conditions, deny", Provision{Deny: true}, "TREAT", "Condition", nil, false},
		{"permit with a deny exception: other types", Provision{Nested: []Provision{obs}}, "TREAT", "Condition", nil, true},
		{"permit with a deny exception: the type", Provision{Nested: []Provision{obs}}, "TREAT", "Observation", nil, false},
		{"deny with a permit exception by class", Provision{Deny: true, Nested: []Provision{{Classes: []string{"Immunization"}}}}, "TREAT", "Immunization", nil, true},
		{"deny with a permit exception: other types", Provision{Deny: true, Nested: []Provision{{Classes: []string{"Immunization"}}}}, "TREAT", "Condition", nil, false},
		{"deny by label", Provision{Nested: []Provision{{Deny: true, Labels: []Label{psy}}}}, "TREAT", "Condition", []Label{psy}, false},
		{"deny by label, unlabelled", Provision{Nested: []Provision{{Deny: true, Labels: []Label{psy}}}}, "TREAT", "Condition", nil, true},
		{"deny for another purpose", Provision{Nested: []Provision{{Deny: true, Purposes: []string{"HRESCH"}}}}, "TREAT", "Condition", nil, true},
		{"deny for this purpose", Provision{Nested: []Provision{{Deny: true, Purposes: []string{"HRESCH"}}}}, "HRESCH", "Condition", nil, false},
		{"deny for a purpose, none stated", Provision{Nested: []Provision{{Deny: true, Purposes: []string{"HRESCH"}}}}, "", "Condition", nil, false},
		{"deny for another practitioner", Provision{Nested: []Provision{{Deny: true, Actors: []string{"Practitioner/other"}}}}, "TREAT", "Condition", nil, true},
		{"deny for this practitioner", Provision{Nested: []Provision{{Deny: true, Actors: []string{"Practitioner/dr"}}}}, "TREAT", "Condition", nil, false},
		{"deny for an organization (cannot tell)", Provision{Nested: []Provision{{Deny: true, Actors: []string{"Organization/o"}}}}, "TREAT", "Condition", nil, false},
		{"deny that ended", Provision{Nested: []Provision{{Deny: true, End: now.Add(-time.Hour)}}}, "TREAT", "Condition", nil, true},
		{"deny by code (whole class)", Provision{Nested: []Provision{{Deny: true, Classes: []string{"Condition"}, Codes: true}}}, "TREAT", "Condition", nil, false},
		{"permit by code is not taken", Provision{Deny: true, Nested: []Provision{{Classes: []string{"Condition"}, Codes: true}}}, "TREAT", "Condition", nil, false},
	}
	for _, c := range cases {
		r := &Reach{Patients: PatientsAll, Consent: true, Practitioner: "Practitioner/dr", Purpose: c.purpose, Labels: []string{"*"}}
		f := &Facts{Now: now, Consents: map[string][]*PatientConsent{"p1": {{ID: "c1", Patient: "p1", Root: c.root}}}}
		v := r.Check(f, Target{Type: c.typ, Owner: "p1", Labels: c.labels})
		if v.Allow != c.allow {
			t.Errorf("%s: allow=%v (%s), want %v", c.name, v.Allow, v.Reason, c.allow)
		}
		// The search filter agrees with the decision on the resource.
		if got := r.Filter(f).Visible(Target{Type: c.typ, Owner: "p1", Labels: c.labels}); got != c.allow {
			t.Errorf("%s: filter visible=%v, want %v", c.name, got, c.allow)
		}
	}
}
