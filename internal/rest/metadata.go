package rest

import (
	"net/http"
	"time"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// capabilities: GET [base]/metadata
func (a *API) capabilities(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	a.write(w, r, http.StatusOK, a.caps)
	return nil
}

// capabilityStatement describes what this server really does: it is built
// from the same search registry and interaction table that serve requests.
func (a *API) capabilityStatement() ([]byte, error) {
	reg := a.eng.Registry()
	var resources []any
	for _, typ := range fhir.ResourceTypes() {
		var params, includes []any
		var revincludes []any
		for _, p := range reg.Params(typ) {
			if p.Type == "special" {
				continue
			}
			params = append(params, map[string]any{"name": p.Code, "definition": p.Key, "type": p.Type})
			if p.Type == "reference" {
				includes = append(includes, typ+":"+p.Code)
			}
		}
		for _, src := range fhir.ResourceTypes() {
			for _, p := range reg.Params(src) {
				if p.Type != "reference" {
					continue
				}
				for _, t := range p.Targets {
					if t == typ {
						revincludes = append(revincludes, src+":"+p.Code)
						break
					}
				}
			}
		}
		params = append(params,
			map[string]any{"name": "_lastUpdated", "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "type": "date"},
		)
		res := map[string]any{
			"type":              typ,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + typ,
			"interaction":       interactions("read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"),
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalRead":   "not-supported",
			"conditionalUpdate": true,
			"conditionalDelete": "single",
			"referencePolicy":   []any{"literal", "local"},
			"searchInclude":     includes,
			"searchRevInclude":  revincludes,
			"searchParam":       params,
		}
		if typ == "AuditEvent" {
			// The server's own audit log (audit.go): read and search only.
			res = map[string]any{
				"type":              typ,
				"profile":           res["profile"],
				"interaction":       interactions("read", "search-type"),
				"versioning":        "no-version",
				"readHistory":       false,
				"updateCreate":      false,
				"conditionalCreate": false,
				"conditionalRead":   "not-supported",
				"conditionalUpdate": false,
				"conditionalDelete": "not-supported",
				"searchParam":       auditSearchParams(),
			}
			includes, revincludes = nil, nil
		}
		if len(includes) == 0 {
			delete(res, "searchInclude")
		}
		if len(revincludes) == 0 {
			delete(res, "searchRevInclude")
		}
		resources = append(resources, res)
	}
	version := a.version
	if version == "" {
		version = "dev"
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         time.Now().UTC().Format("2006-01-02"),
		"publisher":    "Hestia",
		"kind":         "instance",
		"software":     map[string]any{"name": "Hestia", "version": version},
		"implementation": map[string]any{
			"description": "Hestia FHIR R4 server",
		},
		"fhirVersion": "4.0.1",
		"format":      []any{"application/fhir+json", "json"},
		"rest": []any{map[string]any{
			"mode":        "server",
			"resource":    resources,
			"interaction": interactions("transaction", "batch", "history-system"),
			"searchParam": []any{
				map[string]any{"name": "_count", "type": "number", "documentation": "page size, at most 1000"},
				map[string]any{"name": "_sort", "type": "string"},
				map[string]any{"name": "_total", "type": "token"},
				map[string]any{"name": "_summary", "type": "token"},
				map[string]any{"name": "_elements", "type": "string"},
			},
		}},
	}
	return fhir.Marshal(cs)
}

func interactions(codes ...string) []any {
	out := make([]any, len(codes))
	for i, c := range codes {
		out[i] = map[string]any{"code": c}
	}
	return out
}

// auditSearchParams are the AuditEvent search parameters the audit log
// answers (engine.AuditEvents; "type" is taken as subtype there, since
// every event's type is rest).
func auditSearchParams() []any {
	var out []any
	for _, p := range []struct{ name, typ string }{
		{"patient", "reference"}, {"agent", "reference"}, {"date", "date"},
		{"subtype", "token"}, {"outcome", "token"}, {"entity", "reference"},
	} {
		out = append(out, map[string]any{"name": p.name, "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-" + p.name, "type": p.typ})
	}
	return out
}
