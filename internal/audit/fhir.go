package audit

import (
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
	systemBALPEntity    = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	systemParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
)

// restful lists the interactions that are codes of the FHIR
// restful-interaction system; the others are Hestia's own.
var restful = map[string]bool{
	"read": true, "vread": true, "update": true, "patch": true, "delete": true,
	"history": true, "history-instance": true, "history-type": true, "history-system": true,
	"create": true, "search": true, "search-type": true, "search-system": true,
	"capabilities": true, "transaction": true, "batch": true, "operation": true,
}

// AuditEvent returns ev as a FHIR R4 AuditEvent in the JSON model, with
// source naming the server that observed it. Like the event, it holds
// identifiers, never resource content or search values.
func (ev *Event) AuditEvent(source string) map[string]any {
	subtype := coding(systemInteraction, ev.Interaction)
	if restful[ev.Interaction] {
		subtype = coding(systemRESTful, ev.Interaction)
	}
	agent := map[string]any{
		"type":      concept(coding(systemParticipation, "IRCP")),
		"who":       map[string]any{"identifier": map[string]any{"value": orUnknown(ev.Principal)}},
		"requestor": true,
	}
	if ev.Address != "" {
		agent["network"] = map[string]any{"address": ev.Address, "type": "2"} // 2: IP address
	}
	out := map[string]any{
		"resourceType": "AuditEvent",
		"type":         coding(systemEventType, "rest"),
		"subtype":      []any{subtype},
		"recorded":     ev.Time.UTC().Format(time.RFC3339Nano),
		"outcome":      ev.Outcome,
		"agent":        []any{agent},
		"source": map[string]any{
			"observer": map[string]any{"display": source},
			"type":     []any{coding(systemSourceType, "4")}, // application server
		},
	}
	if ev.Action != "" {
		out["action"] = ev.Action
	}
	if ev.Reason != "" {
		out["outcomeDesc"] = ev.Reason
	}
	var entities []any
	if ev.Type != "" {
		// An instance, or (a search, a type's history) the resource type.
		what := map[string]any{"type": ev.Type}
		if ev.ID != "" {
			ref := ev.Type + "/" + ev.ID
			if ev.Version > 0 {
				ref += "/_history/" + strconv.FormatInt(ev.Version, 10)
			}
			what = map[string]any{"reference": ref}
		}
		e := map[string]any{
			"what": what,
			"type": coding(systemEntityType, "2"), // system object
		}
		if ev.Count > 0 {
			e["detail"] = []any{map[string]any{"type": "count", "valueString": strconv.Itoa(ev.Count)}}
		}
		entities = append(entities, e)
	}
	if ev.RequestID != "" {
		entities = append(entities, map[string]any{
			"what": map[string]any{"identifier": map[string]any{"value": ev.RequestID}},
			"type": coding(systemBALPEntity, "XrequestId"),
		})
	}
	if entities != nil {
		out["entity"] = entities
	}
	return out
}

func coding(system, code string) map[string]any {
	return map[string]any{"system": system, "code": code}
}

func concept(c map[string]any) map[string]any {
	return map[string]any{"coding": []any{c}}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
