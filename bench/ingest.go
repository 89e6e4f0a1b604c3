package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// bundleFile is one Synthea transaction Bundle, read and parsed before the
// clock starts.
type bundleFile struct {
	Name       string
	Body       []byte
	Shared     bool     // hospitalInformation* or practitionerInformation*
	Types      []string // resourceType of each entry, in order
	patientIdx int      // entry index of the Patient, or -1
	facts      *factCollector
}

// isShared reports whether a Synthea file is one of the two bundles that
// every patient's record refers to (organizations, practitioners).
func isShared(name string) bool {
	return strings.HasPrefix(name, "hospitalInformation") || strings.HasPrefix(name, "practitionerInformation")
}

// loadBundles reads the *.json files of dir: the shared bundles first, then
// at most limit patient bundles (0 = all) in name order.
func loadBundles(dir string, limit int) ([]*bundleFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var shared, patients []string
	for _, n := range names {
		if isShared(filepath.Base(n)) {
			shared = append(shared, n)
		} else {
			patients = append(patients, n)
		}
	}
	if limit > 0 && len(patients) > limit {
		patients = patients[:limit]
	}
	var out []*bundleFile
	for _, n := range append(shared, patients...) {
		f, err := readBundle(n)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no *.json bundles in %s", dir)
	}
	return out, nil
}

func readBundle(path string) (*bundleFile, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &bundleFile{Name: filepath.Base(path), Body: body, patientIdx: -1}
	f.Shared = isShared(f.Name)
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if b.ResourceType != "Bundle" || b.Type != "transaction" {
		return nil, fmt.Errorf("%s: not a transaction Bundle", f.Name)
	}
	if !f.Shared {
		f.facts = newFactCollector()
	}
	for i, e := range b.Entry {
		var h resourceHead
		if err := json.Unmarshal(e.Resource, &h); err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", f.Name, i, err)
		}
		f.Types = append(f.Types, h.ResourceType)
		if h.ResourceType == "Patient" && f.patientIdx < 0 {
			f.patientIdx = i
		}
		if f.facts != nil {
			f.facts.observe(h.ResourceType, e.Resource)
		}
	}
	return f, nil
}

// ingestFailure is one bundle the server did not accept as expected.
type ingestFailure struct {
	File        string `json:"file"`
	Status      int    `json:"http_status"`            // 0 for a transport error
	Entry       int    `json:"entry"`                  // failing entry index, -1 for the whole bundle
	EntryStatus string `json:"entry_status,omitempty"` // the entry's response.status
	Message     string `json:"message"`                // OperationOutcome diagnostics or what was wrong
}

type ingestResult struct {
	Clients         int             `json:"clients"`
	Bundles         int             `json:"bundles"`
	SharedBundles   int             `json:"shared_bundles"`
	OKBundles       int             `json:"ok_bundles"`
	Resources       int             `json:"resources"`        // entries of the bundles that succeeded
	FailedResources int             `json:"failed_resources"` // entries of the bundles that failed
	Wall            time.Duration   `json:"-"`
	WallSeconds     float64         `json:"wall_seconds"`
	ResourcesPerSec float64         `json:"resources_per_second"`
	BundlesPerSec   float64         `json:"bundles_per_second"`
	Latency         latency         `json:"bundle_latency"` // per successful bundle
	Failures        []ingestFailure `json:"failures"`
	Proto           string          `json:"protocol"`
}

// runIngest posts every bundle as a transaction with clients concurrent
// clients, the shared bundles first, and returns the result and what the
// later phases need.
func runIngest(ctx context.Context, c *http.Client, base *url.URL, files []*bundleFile, clients int) (*ingestResult, *dataset) {
	res := &ingestResult{Clients: clients, Bundles: len(files)}
	data := newDataset()
	var shared, rest []*bundleFile
	for _, f := range files {
		if f.Shared {
			shared = append(shared, f)
		} else {
			rest = append(rest, f)
		}
	}
	res.SharedBundles = len(shared)

	var mu sync.Mutex
	var durations []time.Duration
	record := func(f *bundleFile, o outcome, fail *ingestFailure) {
		mu.Lock()
		defer mu.Unlock()
		if res.Proto == "" && o.Proto != "" {
			res.Proto = o.Proto
		}
		if fail != nil {
			res.Failures = append(res.Failures, *fail)
			res.FailedResources += len(f.Types)
			return
		}
		res.OKBundles++
		res.Resources += len(f.Types)
		durations = append(durations, o.Elapsed)
	}

	start := time.Now()
	for _, group := range [][]*bundleFile{shared, rest} {
		jobs := make(chan *bundleFile)
		var wg sync.WaitGroup
		for range min(clients, len(group)) {
			wg.Go(func() {
				var buf bytes.Buffer
				for f := range jobs {
					refs, o, fail := postBundle(ctx, c, base, f, &buf)
					if fail == nil {
						data.add(refs, patientOf(f, refs), valuesOf(f))
					}
					record(f, o, fail)
				}
			})
		}
	feed:
		for _, f := range group {
			select {
			case jobs <- f:
			case <-ctx.Done():
				break feed
			}
		}
		close(jobs)
		wg.Wait()
	}
	res.Wall = time.Since(start)
	res.WallSeconds = res.Wall.Seconds()
	res.ResourcesPerSec = perSecond(res.Resources, res.Wall)
	res.BundlesPerSec = perSecond(res.OKBundles, res.Wall)
	res.Latency = summarise(durations)
	slices.SortFunc(res.Failures, func(a, b ingestFailure) int { return strings.Compare(a.File, b.File) })
	return res, data
}

func patientOf(f *bundleFile, refs []string) *patientFacts {
	if f.facts == nil || f.patientIdx < 0 {
		return nil
	}
	p := f.facts.p
	p.ID = strings.TrimPrefix(refs[f.patientIdx], "Patient/")
	return p
}

func valuesOf(f *bundleFile) map[string][]float64 {
	if f.facts == nil {
		return nil
	}
	return f.facts.values
}

// postBundle posts one bundle and checks the transaction-response. It
// returns the created "Type/id" of each entry, or a failure.
func postBundle(ctx context.Context, c *http.Client, base *url.URL, f *bundleFile, buf *bytes.Buffer) ([]string, outcome, *ingestFailure) {
	req, err := newPost(ctx, base, f.Body)
	if err != nil {
		return nil, outcome{}, &ingestFailure{File: f.Name, Entry: -1, Message: err.Error()}
	}
	o := do(c, req, buf)
	refs, fail := checkTransaction(f, o, buf.Bytes())
	return refs, o, fail
}

// checkTransaction applies the success rule to one exchange: HTTP 200, a
// Bundle of type transaction-response with one entry per request entry,
// each with a response.status starting with 201 or 200 and a location.
func checkTransaction(f *bundleFile, o outcome, body []byte) ([]string, *ingestFailure) {
	fail := func(entry int, entryStatus, msg string) *ingestFailure {
		return &ingestFailure{File: f.Name, Status: o.Status, Entry: entry, EntryStatus: entryStatus, Message: msg}
	}
	if o.Err != nil {
		return nil, fail(-1, "", errorKey(o))
	}
	if o.Status != http.StatusOK {
		msg := firstDiagnostics(body)
		if msg == "" {
			msg = "no OperationOutcome diagnostics"
		}
		return nil, fail(-1, "", msg)
	}
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fail(-1, "", "response is not JSON: "+shorten(err.Error(), 100))
	}
	if b.ResourceType != "Bundle" || b.Type != "transaction-response" {
		return nil, fail(-1, "", fmt.Sprintf("response is a %s of type %q, want a Bundle of type transaction-response", b.ResourceType, b.Type))
	}
	if len(b.Entry) != len(f.Types) {
		return nil, fail(-1, "", fmt.Sprintf("response has %d entries for %d request entries", len(b.Entry), len(f.Types)))
	}
	refs := make([]string, len(b.Entry))
	for i, e := range b.Entry {
		if e.Response == nil {
			return nil, fail(i, "", "entry has no response")
		}
		st := e.Response.Status
		if !strings.HasPrefix(st, "201") && !strings.HasPrefix(st, "200") {
			msg := firstDiagnostics(e.Response.Outcome)
			if msg == "" {
				msg = "entry not created"
			}
			return nil, fail(i, st, msg)
		}
		ref, err := refFromLocation(e.Response.Location)
		if err != nil {
			return nil, fail(i, st, err.Error())
		}
		if typ, _, _ := strings.Cut(ref, "/"); typ != f.Types[i] {
			return nil, fail(i, st, fmt.Sprintf("location is a %s for a %s entry", typ, f.Types[i]))
		}
		refs[i] = ref
	}
	return refs, nil
}
