package audit

import (
	"encoding/base64"
	"strconv"
	"time"
)

// Code systems of the AuditEvent resources (IHE Basic Audit Log Patterns).
const (
	systemEventType     = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemRESTful       = "http://hl7.org/fhir/restful-interaction"
	systemInteraction   = "urn:hestia:interaction" // interactions that are not RESTful: import, erase, key rotation …
	systemSourceType    = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemEntityType    = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemEntityRole    = "http://terminology.hl7.org/CodeSystem/object-role"
	systemBALPEntity    = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	systemParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	systemActReason     = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	systemRole          = "urn:hestia:role"
	systemClient        = "urn:hestia:client"
	systemActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemAlert         = "urn:hestia:alert"
	systemDICOM         = "http://dicom.nema.org/resources/ontology/DCM"
)

// authentication lists the interactions of the authentication services:
// their events are DICOM "User Authentication" (110114), with the DICOM
// Login and Logout subtypes where they apply (as IHE ATNA and BALP do).
var authentication = map[string]string{
	"login": "110122", "logout": "110123", "token": "", "token-revoke": "", "token-introspect": "", "authenticate": "",
	"password-change": "", "mfa-enrolment": "", "recovery-code": "",
}

// restful lists the interactions that are codes of the FHIR
// restful-interaction system; the others are Hestia's own.
var restful = map[string]bool{
	"read": true, "vread": true, "update": true, "patch": true, "delete": true,
	"history": true, "history-instance": true, "history-type": true, "history-system": true,
	"create": true, "search": true, "search-type": true, "search-system": true,
	"capabilities": true, "transaction": true, "batch": true, "operation": true,
}

// The FHIR R4 AuditEvent, as much of it as Hestia fills (JSON model;
// fields in the specification's order).
type (
	AuditEvent struct {
		ResourceType   string    `json:"resourceType"`
		ID             string    `json:"id,omitempty"` // the log index, when read back
		Meta           *meta     `json:"meta,omitempty"`
		Type           coding    `json:"type"`
		Subtype        []coding  `json:"subtype"`
		Action         string    `json:"action,omitempty"`
		Recorded       string    `json:"recorded"`
		Outcome        string    `json:"outcome"`
		OutcomeDesc    string    `json:"outcomeDesc,omitempty"`
		PurposeOfEvent []concept `json:"purposeOfEvent,omitempty"`
		Agent          []agent   `json:"agent"`
		Source         source    `json:"source"`
		Entity         []entity  `json:"entity,omitempty"`
	}
	meta struct {
		Security []coding `json:"security,omitempty"`
		Tag      []coding `json:"tag,omitempty"`
	}
	coding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	concept struct {
		Coding []coding `json:"coding"`
	}
	identifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value"`
	}
	reference struct {
		Reference  string      `json:"reference,omitempty"`
		Type       string      `json:"type,omitempty"`
		Identifier *identifier `json:"identifier,omitempty"`
		Display    string      `json:"display,omitempty"`
	}
	network struct {
		Address string `json:"address"`
		Type    string `json:"type"`
	}
	agent struct {
		Type         *concept  `json:"type,omitempty"`
		Role         []concept `json:"role,omitempty"`
		Who          reference `json:"who"`
		Requestor    bool      `json:"requestor"`
		Network      *network  `json:"network,omitempty"`
		PurposeOfUse []concept `json:"purposeOfUse,omitempty"`
	}
	source struct {
		Observer reference `json:"observer"`
		Type     []coding  `json:"type"`
	}
	entity struct {
		What   *reference `json:"what,omitempty"`
		Type   *coding    `json:"type,omitempty"`
		Role   *coding    `json:"role,omitempty"`
		Query  string     `json:"query,omitempty"`
		Detail []detail   `json:"detail,omitempty"`
	}
	detail struct {
		Type        string `json:"type"`
		ValueString string `json:"valueString"`
	}
)

// AuditEvent renders ev as a FHIR R4 AuditEvent. It holds identifiers,
// and a search's query; never resource content.
func (ev *Event) AuditEvent() *AuditEvent {
	subtype := coding{System: systemInteraction, Code: ev.Interaction}
	typ := coding{System: systemEventType, Code: "rest"}
	if restful[ev.Interaction] {
		subtype.System = systemRESTful
	} else if code, ok := authentication[ev.Interaction]; ok {
		typ = coding{System: systemDICOM, Code: "110114", Display: "User Authentication"}
		if code != "" {
			subtype = coding{System: systemDICOM, Code: code, Display: ev.Interaction}
		}
	}
	ag := agent{
		Type:      &concept{Coding: []coding{{System: systemParticipation, Code: "IRCP"}}},
		Who:       reference{Identifier: &identifier{Value: orUnknown(ev.Principal)}},
		Requestor: true,
	}
	if ev.Role != "" {
		ag.Role = []concept{{Coding: []coding{{System: systemRole, Code: ev.Role}}}}
	}
	if ev.Address != "" {
		ag.Network = &network{Address: ev.Address, Type: "2"} // 2: IP address
	}
	if ev.Purpose != "" {
		ag.PurposeOfUse = []concept{{Coding: []coding{{System: systemActReason, Code: ev.Purpose}}}}
	}
	agents := []agent{ag}
	if ev.Client != "" {
		// The application the user acts through (BALP: the client agent).
		agents = append(agents, agent{
			Type: &concept{Coding: []coding{{System: systemEntityType, Code: "2"}}},
			Who:  reference{Identifier: &identifier{System: systemClient, Value: ev.Client}},
		})
	}
	out := &AuditEvent{
		ResourceType: "AuditEvent",
		Type:         typ,
		Subtype:      []coding{subtype},
		Action:       ev.Action,
		Recorded:     ev.Time.UTC().Format(time.RFC3339Nano),
		Outcome:      ev.Outcome,
		OutcomeDesc:  ev.Reason,
		Agent:        agents,
		Source: source{
			Observer: reference{Display: ev.Source},
			Type:     []coding{{System: systemSourceType, Code: "4"}}, // application server
		},
	}
	if ev.BreakGlass {
		// Break-the-glass: flagged in meta.security (v3-ActCode BTG) and
		// in the purpose of the event (emergency treatment).
		out.Meta = &meta{Security: []coding{{System: systemActCode, Code: "BTG", Display: "break the glass"}}}
		out.PurposeOfEvent = []concept{{Coding: []coding{{System: systemActReason, Code: "ETREAT"}}}}
	}
	if ev.Alert != "" {
		// An alert for the privacy officer (AuditEvent?alert=…).
		if out.Meta == nil {
			out.Meta = &meta{}
		}
		out.Meta.Tag = []coding{{System: systemAlert, Code: ev.Alert}}
	}
	if ev.Type != "" {
		// An instance, or (a search, a type's history) the resource type.
		what := &reference{Type: ev.Type}
		if ev.ID != "" {
			what = &reference{Reference: ref(ev.Type, ev.ID, ev.Version)}
		}
		e := entity{What: what, Type: &coding{System: systemEntityType, Code: "2"}} // system object
		if ev.Count > 0 {
			e.Detail = []detail{{Type: "count", ValueString: strconv.Itoa(ev.Count)}}
		}
		out.Entity = append(out.Entity, e)
	}
	if ev.Query != "" {
		out.Entity = append(out.Entity, entity{
			Type:  &coding{System: systemEntityType, Code: "2"},
			Role:  &coding{System: systemEntityRole, Code: "24"}, // query
			Query: base64.StdEncoding.EncodeToString([]byte(ev.Query)),
		})
	}
	if ev.Scope != "" {
		out.Entity = append(out.Entity, entity{
			What:   &reference{Display: "access token"},
			Type:   &coding{System: systemEntityType, Code: "2"},
			Detail: []detail{{Type: "scope", ValueString: ev.Scope}},
		})
	}
	if ev.Detail != "" {
		label := "detail"
		if ev.Interaction == "configure" {
			label = "configuration"
		}
		out.Entity = append(out.Entity, entity{
			What:   &reference{Display: label},
			Type:   &coding{System: systemEntityType, Code: "2"},
			Detail: []detail{{Type: label, ValueString: ev.Detail}},
		})
	}
	for _, p := range ev.Patients {
		out.Entity = append(out.Entity, entity{
			What: &reference{Reference: "Patient/" + p},
			Type: &coding{System: systemEntityType, Code: "1"}, // person
			Role: &coding{System: systemEntityRole, Code: "1"}, // patient
		})
	}
	for _, en := range ev.Entries {
		e := entity{Type: &coding{System: systemEntityType, Code: "2"}}
		if en.ID != "" {
			e.What = &reference{Reference: ref(en.Type, en.ID, en.Version)}
		} else if en.Type != "" {
			e.What = &reference{Type: en.Type}
		}
		e.Detail = []detail{{Type: "interaction", ValueString: en.Interaction}, {Type: "outcome", ValueString: en.Outcome}}
		out.Entity = append(out.Entity, e)
	}
	if ev.RequestID != "" {
		out.Entity = append(out.Entity, entity{
			What: &reference{Identifier: &identifier{Value: ev.RequestID}},
			Type: &coding{System: systemBALPEntity, Code: "XrequestId"},
		})
	}
	return out
}

func ref(typ, id string, version int64) string {
	r := typ + "/" + id
	if version > 0 {
		r += "/_history/" + strconv.FormatInt(version, 10)
	}
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
