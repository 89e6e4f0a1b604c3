package main

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// patientFacts is what the searches need to know about one patient.
type patientFacts struct {
	ID        string
	Family    string
	BirthYear int
	Codes     []string       // distinct Observation code tokens "system|code"
	LabObs    int            // Observations with category laboratory
	Types     map[string]int // resources of each type in the patient's record
}

// dataset is everything the read and search phases draw from: the ids the
// server gave out (from ingest or discovery) and facts about the patients.
// Its methods are safe for concurrent use while it is being filled.
type dataset struct {
	mu       sync.Mutex
	Refs     []string // every known "Type/id"
	Patients []*patientFacts
	values   map[string][]float64 // Observation code token -> valueQuantity values
}

func newDataset() *dataset {
	return &dataset{values: map[string][]float64{}}
}

func (d *dataset) add(refs []string, p *patientFacts, values map[string][]float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Refs = append(d.Refs, refs...)
	if p != nil && p.ID != "" {
		d.Patients = append(d.Patients, p)
	}
	for k, v := range values {
		d.values[k] = append(d.values[k], v...)
	}
}

// factCollector builds one patient's facts from the resources of its record.
type factCollector struct {
	p      *patientFacts
	codes  map[string]bool
	values map[string][]float64
}

func newFactCollector() *factCollector {
	return &factCollector{
		p:      &patientFacts{Types: map[string]int{}},
		codes:  map[string]bool{},
		values: map[string][]float64{},
	}
}

// observe records one resource of the patient's record. raw is the resource
// JSON; resources that do not decode are only counted.
func (fc *factCollector) observe(resourceType string, raw []byte) {
	fc.p.Types[resourceType]++
	switch resourceType {
	case "Patient":
		var pr patientResource
		if json.Unmarshal(raw, &pr) != nil {
			return
		}
		if len(pr.Name) > 0 {
			fc.p.Family = pr.Name[0].Family
		}
		if len(pr.BirthDate) >= 4 {
			fc.p.BirthYear, _ = strconv.Atoi(pr.BirthDate[:4])
		}
	case "Observation":
		var o observationResource
		if json.Unmarshal(raw, &o) != nil {
			return
		}
		tok := o.Code.token()
		if tok != "" && !fc.codes[tok] {
			fc.codes[tok] = true
			fc.p.Codes = append(fc.p.Codes, tok)
		}
		if o.hasCategory("laboratory") {
			fc.p.LabObs++
		}
		if tok != "" && o.ValueQuantity != nil && o.ValueQuantity.Value != nil {
			fc.values[tok] = append(fc.values[tok], *o.ValueQuantity.Value)
		}
	}
}

// valueQuery is one Observation code with numeric values and a threshold
// (the median of its values, rounded) that about half of them exceed.
type valueQuery struct {
	Code      string
	Threshold string
}

// minValues is how many numeric values a code needs before it is used in
// the value-quantity search.
const minValues = 10

// valueQueries returns, in a stable order, the codes with at least minValues
// numeric values and their median.
func (d *dataset) valueQueries() []valueQuery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []valueQuery
	for code, vs := range d.values {
		if len(vs) < minValues {
			continue
		}
		s := slices.Clone(vs)
		slices.Sort(s)
		med := s[(len(s)-1)/2]
		out = append(out, valueQuery{Code: code, Threshold: formatThreshold(med)})
	}
	slices.SortFunc(out, func(a, b valueQuery) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// formatThreshold rounds v to at most one decimal (or to whole numbers above
// 100) so the search value stays short.
func formatThreshold(v float64) string {
	if math.Abs(v) >= 100 {
		v = math.Round(v)
	} else {
		v = math.Round(v*10) / 10
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// familyPrefix returns the first three letters of a family name.
func familyPrefix(family string) string {
	r := []rune(family)
	if len(r) > 3 {
		r = r[:3]
	}
	return string(r)
}
