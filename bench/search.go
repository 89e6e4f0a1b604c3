package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
)

// The search phase measures this fixed set of queries. X is a random known
// patient (one that has at least one resource of the searched type where
// that matters), SYSTEM|CODE an Observation code taken from the data, F the
// first three letters of a real family name, YYYY a real birth year and N
// the median value of the code's valueQuantity, so about half match.
// Changing the set changes what BENCHMARKS.md compares: add, do not edit.
var searchTemplates = []string{
	"Observation?patient=X&code=SYSTEM|CODE",
	"Observation?patient=X&category=laboratory&_sort=-date&_count=20",
	"Patient?family=F",
	"Patient?birthdate=geYYYY",
	"Condition?patient=X",
	"Encounter?patient=X&date=ge2010",
	"Observation?code=SYSTEM|CODE&value-quantity=gtN&_count=50",
	"Patient?_has:Observation:patient:code=SYSTEM|CODE&_count=20",
	"MedicationRequest?patient=X&_include=MedicationRequest:medication",
	"Observation?patient=X&_summary=count",
}

// query joins a resource type and name=value pairs into a search path. Values
// are percent-encoded; names are the fixed ASCII names above and stay as
// written.
func query(typ string, kv ...string) string {
	var sb strings.Builder
	sb.WriteString(typ)
	for i := 0; i+1 < len(kv); i += 2 {
		if i == 0 {
			sb.WriteByte('?')
		} else {
			sb.WriteByte('&')
		}
		sb.WriteString(kv[i])
		sb.WriteByte('=')
		sb.WriteString(url.QueryEscape(kv[i+1]))
	}
	return sb.String()
}

// checkSearchset accepts a searchset Bundle and returns its number of
// entries and its total (-1 without one).
func checkSearchset(_ string, body []byte) (int, int, error) {
	var b struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Total        *int              `json:"total"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, -1, errors.New("search: response is not JSON")
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		return 0, -1, fmt.Errorf("search: got a %s of type %q, want a searchset Bundle", b.ResourceType, b.Type)
	}
	total := -1
	if b.Total != nil {
		total = *b.Total
	}
	return len(b.Entry), total, nil
}

// searchTargets builds the targets of searchTemplates from d. A query the
// data cannot fill (no patient has the needed resources) comes back with a
// reason instead of a target.
func searchTargets(d *dataset) ([]target, map[string]string) {
	all := d.Patients
	having := func(pred func(*patientFacts) bool) []*patientFacts {
		var out []*patientFacts
		for _, p := range all {
			if pred(p) {
				out = append(out, p)
			}
		}
		return out
	}
	hasType := func(typ string) func(*patientFacts) bool {
		return func(p *patientFacts) bool { return p.Types[typ] > 0 }
	}
	withCodes := having(func(p *patientFacts) bool { return len(p.Codes) > 0 })
	withLabs := having(func(p *patientFacts) bool { return p.LabObs > 0 })
	withFamily := having(func(p *patientFacts) bool { return p.Family != "" })
	withBirth := having(func(p *patientFacts) bool { return p.BirthYear > 0 })
	withCond := having(hasType("Condition"))
	withEnc := having(hasType("Encounter"))
	withMed := having(hasType("MedicationRequest"))
	withObs := having(hasType("Observation"))
	values := d.valueQueries()

	pick := func(ps []*patientFacts, r *rand.Rand) *patientFacts { return ps[r.IntN(len(ps))] }
	type build struct {
		avail int // candidates to draw from; 0 means the query cannot be built
		next  func(r *rand.Rand) string
	}
	builds := map[string]build{
		searchTemplates[0]: {len(withCodes), func(r *rand.Rand) string {
			p := pick(withCodes, r)
			return query("Observation", "patient", p.ID, "code", p.Codes[r.IntN(len(p.Codes))])
		}},
		searchTemplates[1]: {len(withLabs), func(r *rand.Rand) string {
			return query("Observation", "patient", pick(withLabs, r).ID, "category", "laboratory", "_sort", "-date", "_count", "20")
		}},
		searchTemplates[2]: {len(withFamily), func(r *rand.Rand) string {
			return query("Patient", "family", familyPrefix(pick(withFamily, r).Family))
		}},
		searchTemplates[3]: {len(withBirth), func(r *rand.Rand) string {
			return query("Patient", "birthdate", "ge"+strconv.Itoa(pick(withBirth, r).BirthYear))
		}},
		searchTemplates[4]: {len(withCond), func(r *rand.Rand) string {
			return query("Condition", "patient", pick(withCond, r).ID)
		}},
		searchTemplates[5]: {len(withEnc), func(r *rand.Rand) string {
			return query("Encounter", "patient", pick(withEnc, r).ID, "date", "ge2010")
		}},
		searchTemplates[6]: {len(values), func(r *rand.Rand) string {
			v := values[r.IntN(len(values))]
			return query("Observation", "code", v.Code, "value-quantity", "gt"+v.Threshold, "_count", "50")
		}},
		searchTemplates[7]: {len(withCodes), func(r *rand.Rand) string {
			p := pick(withCodes, r)
			return query("Patient", "_has:Observation:patient:code", p.Codes[r.IntN(len(p.Codes))], "_count", "20")
		}},
		searchTemplates[8]: {len(withMed), func(r *rand.Rand) string {
			return query("MedicationRequest", "patient", pick(withMed, r).ID, "_include", "MedicationRequest:medication")
		}},
		searchTemplates[9]: {len(withObs), func(r *rand.Rand) string {
			return query("Observation", "patient", pick(withObs, r).ID, "_summary", "count")
		}},
	}
	var out []target
	skipped := map[string]string{}
	for _, name := range searchTemplates {
		b := builds[name]
		if b.avail == 0 {
			skipped[name] = "no data to fill the query"
			continue
		}
		out = append(out, target{Name: name, Next: b.next, Check: checkSearchset})
	}
	return out, skipped
}
