package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fastConfig is a run of every phase against the fake, short enough for a
// unit test. No assertion depends on how fast anything is.
func fastConfig(t *testing.T, url string, fp []byte) *config {
	return &config{
		URL:          url,
		Fingerprint:  formatFingerprint(fp),
		Bundles:      writeTestBundles(t, threePatients()),
		Phases:       []string{"ingest", "read", "search"},
		Concurrency:  []int{1, 2},
		IngestC:      2,
		Duration:     20 * time.Millisecond,
		Warmup:       5 * time.Millisecond,
		Timeout:      10 * time.Second,
		StartTimeout: 10 * time.Second,
		Seed:         1,
		Label:        "unit test",
	}
}

func TestRunReportsEveryPhase(t *testing.T) {
	f := newFakeFHIR()
	srv, _, fp := startFake(t, f)
	cfg := fastConfig(t, srv.URL, fp)
	cfg.ServerPID = os.Getpid() // any live process will do for sampling
	cfg.DataDir = t.TempDir()
	os.WriteFile(filepath.Join(cfg.DataDir, "hestia.db"), make([]byte, 4096), 0o644)
	os.WriteFile(filepath.Join(cfg.DataDir, "hestia.db-wal"), make([]byte, 1000), 0o644)

	res, err := run(context.Background(), cfg, "go run ./bench -label 'unit test'", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ingest.Resources != 34 || len(res.Ingest.Failures) != 0 {
		t.Errorf("ingest: %d resources, failures %v", res.Ingest.Resources, res.Ingest.Failures)
	}
	if len(res.Read) != 2 || len(res.Search) != 2*len(searchTemplates) {
		t.Fatalf("%d read and %d search results, want 2 and %d", len(res.Read), len(res.Search), 2*len(searchTemplates))
	}
	for _, l := range append(res.Read, res.Search...) {
		if l.Errors != 0 || l.Requests < l.Concurrency {
			t.Errorf("%s c=%d: %d requests, errors %v", l.Name, l.Concurrency, l.Requests, l.ErrorKinds)
		}
	}
	for _, l := range res.Search {
		if l.Name == searchTemplates[0] && l.MeanEntries < 1 {
			t.Errorf("headline query found %.1f entries on average, want at least 1", l.MeanEntries)
		}
		if l.Name == searchTemplates[9] && (l.MeanEntries != 0 || l.MeanTotal < 1) {
			t.Errorf("_summary=count: %.1f entries, total %.1f", l.MeanEntries, l.MeanTotal)
		}
	}
	if res.DataDir == nil || res.DataDir.Files != 2 || res.DataDir.ApparentBytes != 5096 {
		t.Errorf("data dir %+v", res.DataDir)
	}

	var out bytes.Buffer
	writeReport(&out, res)
	report := out.String()
	for _, want := range []string{
		"Hestia load benchmark: unit test",
		"command  go run ./bench -label 'unit test'",
		"nproc ",
		"certificate pinned by SHA-256 " + formatFingerprint(fp),
		"5 bundles (2 shared), 34 resources, 2 clients",
		"resources/s",
		"errors: 0 failed bundles",
		"Data directory " + cfg.DataDir + " (after ingest)",
		"hestia.db-wal",
		"Read (GET Type/id, random ids)",
		"Patient?_has:Observation:patient:code=SYSTEM|CODE&_count=20",
		"peak RSS ingest",
		"VmHWM",
		"Markdown for BENCHMARKS.md",
		"### unit test (",
		"- Ingest: 5 bundles, 34 resources, 2 clients",
		"| interaction | c | req/s | p50 ms | p90 ms | p99 ms | max ms | mean entries | errors |",
		"| read `GET Type/id` | 1 |",
		"| search `Observation?patient=X&code=SYSTEM\\|CODE` | 2 |",
		"| search `MedicationRequest?patient=X&_include=MedicationRequest:medication` | 1 |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(report, "PROBLEM") || strings.Contains(report, "Errors by kind") {
		t.Errorf("report shows problems:\n%s", report)
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}

	path := filepath.Join(t.TempDir(), "out.json")
	if err := writeJSON(path, res); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"label", "machine", "ingest", "read", "search", "server_memory", "data_dir"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func TestRunDiscoversIdsWithoutIngest(t *testing.T) {
	f := newFakeFHIR()
	srv, base, fp := startFake(t, f)
	cfg := fastConfig(t, srv.URL, fp)
	files, err := loadBundles(cfg.Bundles, 0)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := newClient(trust{Fingerprint: fp}, 1, false, 10*time.Second)
	if ing, _ := runIngest(context.Background(), cl, base, files, 1); len(ing.Failures) != 0 {
		t.Fatal(ing.Failures)
	}
	cfg.Phases = []string{"read", "search"}
	cfg.Concurrency = []int{1}

	res, err := run(context.Background(), cfg, "go run ./bench", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Patients and what they own: the Organizations are not searched for.
	if res.Ingest != nil || !strings.HasPrefix(res.Discovery, "3 patients, 26 resource ids") {
		t.Errorf("discovery %q", res.Discovery)
	}
	if len(res.Read) != 1 || len(res.Search) != len(searchTemplates) {
		t.Fatalf("%d read, %d search results", len(res.Read), len(res.Search))
	}
	for _, l := range append(res.Read, res.Search...) {
		if l.Errors != 0 {
			t.Errorf("%s: errors %v", l.Name, l.ErrorKinds)
		}
	}
}

func TestLoadCountsFailedRequestsWithoutTimingThem(t *testing.T) {
	_, base, fp := startFake(t, newFakeFHIR())
	d := newDataset()
	d.Refs = []string{"Patient/gone"} // the fake answers 404 with an OperationOutcome
	tg, err := readTarget(d)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := newClient(trust{Fingerprint: fp}, 2, false, 10*time.Second)
	l := runLoad(context.Background(), cl, base, tg, 2, 0, 20*time.Millisecond, 1)
	if l.Requests < 2 || l.Errors != l.Requests || l.ErrorKinds["HTTP 404"] != l.Errors || l.Latency.N != 0 {
		t.Errorf("requests %d, errors %d %v, timed %d", l.Requests, l.Errors, l.ErrorKinds, l.Latency.N)
	}
}

func TestRunOverPlainHTTPNeedsNoTrust(t *testing.T) {
	srv := httptest.NewServer(newFakeFHIR())
	t.Cleanup(srv.Close)
	cfg := fastConfig(t, srv.URL, nil)
	cfg.Fingerprint = ""
	cfg.Phases = []string{"ingest", "read"}
	cfg.Concurrency = []int{1}
	res, err := run(context.Background(), cfg, "go run ./bench", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.TLS != "plain HTTP (no TLS)" || res.Protocol != "HTTP/1.1" || res.Ingest.Resources != 34 || res.Read[0].Errors != 0 {
		t.Errorf("TLS %q, protocol %q, ingest %d resources, read errors %d", res.TLS, res.Protocol, res.Ingest.Resources, res.Read[0].Errors)
	}
}

func TestHTTP2FlagNegotiatesHTTP2(t *testing.T) {
	srv := httptest.NewUnstartedServer(newFakeFHIR())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	fp := sha256.Sum256(srv.Certificate().Raw)
	base := mustParse(t, srv.URL)
	for _, h2 := range []bool{false, true} {
		cl, err := newClient(trust{Fingerprint: fp[:]}, 4, h2, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		proto, err := probe(context.Background(), cl, base)
		want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if err != nil || proto != want {
			t.Errorf("-http2=%v: protocol %q, %v; want %s", h2, proto, err, want)
		}
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
