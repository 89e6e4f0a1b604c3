package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// Events become AuditEvents that the official R4 definitions accept, with
// the interaction, outcome, agent, source and entities in their places.
func TestAuditEventIsValidR4(t *testing.T) {
	at := time.Date(2026, 11, 29, 3, 4, 5, 678000000, time.UTC)
	events := []*Event{
		{Time: at, RequestID: "r1", Principal: "user-1", Address: "192.0.2.7", Interaction: "read", Action: "R", Outcome: Success, Type: "Patient", ID: "p1", Version: 3, Reason: "open policy"},
		{Time: at, Interaction: "search-type", Action: "R", Outcome: Success, Type: "Observation", Count: 12},
		{Time: at, RequestID: "r3", Interaction: "transaction", Action: "E", Outcome: SeriousFail, Count: 300},
		{Time: at, Principal: "admin", Interaction: "key-rotation", Action: "U", Outcome: Success},
		{Time: at, Interaction: "read", Action: "R", Outcome: MinorFailure, Type: "Patient", ID: "p2", Reason: "access denied"},
		{Time: at, Principal: "dr-1", Role: "physician", Client: "app-7", Purpose: "ETREAT", BreakGlass: true, Interaction: "search-type", Action: "R", Outcome: Success,
			Type: "Observation", Count: 2, Query: "patient=p1&code=1234-5", Patients: []string{"p1", "p9"}},
		{Time: at, Interaction: "transaction", Action: "E", Outcome: Success, Count: 2, Entries: []Entry{
			{Interaction: "create", Type: "Patient", ID: "p3", Version: 1, Outcome: Success},
			{Interaction: "delete", Type: "Observation", ID: "o1", Version: 4, Outcome: MinorFailure}}},
	}
	for _, ev := range events {
		ev.Source = "hestia-node-1"
		data, err := json.Marshal(ev.AuditEvent())
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.ParseResource(data)
		if err != nil {
			t.Fatalf("%s: %v", ev.Interaction, err)
		}
		for _, is := range fhir.Validate(res) {
			if is.Severity == "error" || is.Severity == "fatal" {
				t.Errorf("%s: %s %s at %v\n%s", ev.Interaction, is.Code, is.Diagnostics, is.Expression, data)
			}
		}
	}

	got, _ := json.Marshal(events[0].AuditEvent())
	for _, want := range []string{
		`"recorded":"2026-11-29T03:04:05.678Z"`,
		`"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}]`,
		`"reference":"Patient/p1/_history/3"`,
		`"address":"192.0.2.7"`,
		`"outcome":"0"`,
		`"value":"user-1"`,
		`"value":"r1"`,
		`"display":"hestia-node-1"`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("AuditEvent lacks %s:\n%s", want, got)
		}
	}
	search, _ := json.Marshal(events[1].AuditEvent())
	if !strings.Contains(string(search), `"what":{"type":"Observation"}`) || !strings.Contains(string(search), `"valueString":"12"`) {
		t.Errorf("a search's entity:\n%s", search)
	}
	btg, _ := json.Marshal(events[5].AuditEvent())
	for _, want := range []string{
		`"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"BTG"`,
		`"purposeOfUse":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"ETREAT"}]}]`,
		`"role":[{"coding":[{"system":"urn:hestia:role","code":"physician"}]}]`,
		`{"system":"urn:hestia:client","value":"app-7"}`,
		`"query":"cGF0aWVudD1wMSZjb2RlPTEyMzQtNQ=="`,
		`{"what":{"reference":"Patient/p9"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"1"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1"}}`,
	} {
		if !strings.Contains(string(btg), want) {
			t.Errorf("AuditEvent lacks %s:\n%s", want, btg)
		}
	}
	tx, _ := json.Marshal(events[6].AuditEvent())
	if !strings.Contains(string(tx), `"reference":"Observation/o1/_history/4"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2"},"detail":[{"type":"interaction","valueString":"delete"},{"type":"outcome","valueString":"4"}]`) {
		t.Errorf("a transaction's entries:\n%s", tx)
	}
	rot, _ := json.Marshal(events[3].AuditEvent())
	if !strings.Contains(string(rot), `{"system":"urn:hestia:interaction","code":"key-rotation"}`) {
		t.Errorf("a non-RESTful interaction is not in Hestia's code system:\n%s", rot)
	}
}
