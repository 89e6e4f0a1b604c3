package access

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// FuzzParsePolicy: any bytes either parse into rules that decide without
// panicking, or are refused with an error.
func FuzzParsePolicy(f *testing.F) {
	f.Add(DefaultPolicy)
	f.Add([]byte(`{"roles": {"x": {"grants": {"*": "rs"}, "patients": "own"}}}`))
	f.Add([]byte(`{"consent": {"default": "deny"}, "roles": {"x": {"grants": {"Observation": "cruds"}, "patients": "related", "breakGlass": true}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParsePolicy(data)
		if err != nil {
			return
		}
		p := &Principal{ID: "u", Kind: KindUser, Roles: []string{"x", "clinician", "patient"}, Scopes: []string{"user/*.cruds", "patient/*.rs"},
			Patient: "p1", FHIRUser: "Practitioner/dr", Purpose: "TREAT"}
		for _, in := range []Interaction{Read, SearchType, Create, Update, Delete, HistorySystem, AuditSearch, AccessReport} {
			d := r.Decide(context.Background(), &Request{Principal: p, Interaction: in, ResourceType: "Observation", ID: "p1"})
			if d.Allow && d.Reach != nil {
				f := &Facts{Now: time.Now(), Related: map[string]string{"p1": "careteam"}}
				d.Reach.Check(f, Target{Type: "Observation", Owner: "p1"})
				d.Reach.Filter(f)
			}
		}
	})
}

// FuzzConsent: a Consent of any shape either is not enforced, or parses
// into rules whose decision on a resource and whose search filter agree.
func FuzzConsent(f *testing.F) {
	f.Add([]byte(`{"type": "deny"}`))
	f.Add([]byte(`{"type": "permit", "provision": [{"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]}]}`))
	f.Add([]byte(`{"type": "deny", "provision": [{"type": "permit", "class": [{"code": "Immunization"}], "purpose": [{"code": "TREAT"}]}]}`))
	f.Add([]byte(`{"type": "permit", "provision": [{"type": "deny", "securityLabel": [{"code": "PSY"}], "actor": [{"reference": {"reference": "Practitioner/dr"}}]}]}`))
	f.Fuzz(func(t *testing.T, provision []byte) {
		var prov any
		if json.Unmarshal(provision, &prov) != nil {
			return
		}
		res := map[string]any{"resourceType": "Consent", "status": "active",
			"scope":     map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
			"patient":   map[string]any{"reference": "Patient/p1"},
			"provision": prov}
		c, ok, err := ParseConsent("c1", res)
		if err != nil || !ok {
			return
		}
		r := &Reach{Patients: PatientsAll, Tenant: true, Consent: true, Practitioner: "Practitioner/dr", Purpose: "TREAT", Labels: []string{"*"}}
		f := &Facts{Now: time.Now(), Consents: map[string][]*PatientConsent{"p1": {c}}}
		fl := r.Filter(f)
		for _, typ := range []string{"Observation", "Immunization", "Condition"} {
			for _, labels := range [][]Label{nil, {{Code: "PSY"}}} {
				tg := Target{Type: typ, Owner: "p1", Labels: labels}
				if v := r.Check(f, tg); v.Allow != fl.Visible(tg) {
					t.Fatalf("%s %v: check %v, filter %v", typ, labels, v.Allow, fl.Visible(tg))
				}
			}
		}
	})
}
