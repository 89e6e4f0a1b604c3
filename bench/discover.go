package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
)

// Without an ingest phase the driver learns ids and facts from the server
// itself: all patients, then the records of up to discoverPatients of them.
const (
	discoverPatients = 100
	discoverPages    = 50 // next links followed per search, at most
	discoverCount    = "200"
)

// discoverTypes are fetched per sampled patient with TYPE?patient=X.
var discoverTypes = []string{"Observation", "Condition", "Encounter", "MedicationRequest"}

// discover fills a dataset by searching: Patient?_count=200 (following next
// links), then TYPE?patient=X&_count=200 for a seeded random sample of patients.
func discover(ctx context.Context, cl *http.Client, base *url.URL, seed uint64) (*dataset, error) {
	d := newDataset()
	var buf bytes.Buffer
	pats, err := searchAll(ctx, cl, base, query("Patient", "_count", discoverCount), &buf)
	if err != nil {
		return nil, err
	}
	collectors := make([]*factCollector, 0, len(pats))
	for _, raw := range pats {
		var h resourceHead
		if json.Unmarshal(raw, &h) != nil || h.ResourceType != "Patient" || h.ID == "" {
			continue
		}
		fc := newFactCollector()
		fc.observe("Patient", raw)
		fc.p.ID = h.ID
		collectors = append(collectors, fc)
	}
	if len(collectors) == 0 {
		return nil, fmt.Errorf("discovery: Patient?_count=%s found no patients", discoverCount)
	}
	r := rand.New(rand.NewPCG(seed, 0xd15c))
	r.Shuffle(len(collectors), func(i, j int) { collectors[i], collectors[j] = collectors[j], collectors[i] })
	for i, fc := range collectors {
		refs := []string{"Patient/" + fc.p.ID}
		if i < discoverPatients {
			for _, typ := range discoverTypes {
				res, err := searchAll(ctx, cl, base, query(typ, "patient", fc.p.ID, "_count", discoverCount), &buf)
				if err != nil {
					return nil, err
				}
				for _, raw := range res {
					var h resourceHead
					if json.Unmarshal(raw, &h) != nil || h.ResourceType != typ || h.ID == "" {
						continue
					}
					fc.observe(typ, raw)
					refs = append(refs, typ+"/"+h.ID)
				}
			}
		}
		d.add(refs, fc.p, fc.values)
	}
	return d, nil
}

// searchAll runs one search and follows its next links (at most
// discoverPages pages), returning the resources of the match entries.
func searchAll(ctx context.Context, cl *http.Client, base *url.URL, rel string, buf *bytes.Buffer) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for page := 0; rel != "" && page < discoverPages; page++ {
		req, err := newGet(ctx, base, rel)
		if err != nil {
			return nil, err
		}
		o := do(cl, req, buf)
		if o.Err != nil || o.Status != http.StatusOK {
			msg := firstDiagnostics(buf.Bytes())
			return nil, fmt.Errorf("discovery: GET %s: %s %s", typeOf(rel), errorKey(o), msg)
		}
		var b bundle
		if err := json.Unmarshal(buf.Bytes(), &b); err != nil || b.ResourceType != "Bundle" || b.Type != "searchset" {
			return nil, fmt.Errorf("discovery: GET %s: response is not a searchset Bundle", typeOf(rel))
		}
		for _, e := range b.Entry {
			if e.Search != nil && e.Search.Mode != "" && e.Search.Mode != "match" {
				continue
			}
			out = append(out, e.Resource)
		}
		rel = b.next()
	}
	return out, nil
}
