package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/shareddata"
)

// accessBench is the Synthea data set loaded once for the access-control
// benchmarks, with a clinician whose panel is 20 patients (CareTeams), two
// of them with privacy Consents.
type accessBench struct {
	node     *Node
	patients []string // Patient ids, in file order
	panel    []string // the clinician's patients
}

var (
	benchOnce sync.Once
	benchData *accessBench
	benchErr  error
)

func loadAccessBench(b *testing.B) *accessBench {
	benchOnce.Do(func() { benchData, benchErr = buildAccessBench(b) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchData
}

func buildAccessBench(b *testing.B) (*accessBench, error) {
	dir, err := os.MkdirTemp("", "hestia-access-bench")
	if err != nil {
		return nil, err
	}
	cfg := Defaults()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.KeyDir = filepath.Join(dir, "keys")
	cfg.Synchronous = "NORMAL"
	node, err := OpenNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(shareddata.Path(b, "synthea"), "bundles", "*.json"))
	sort.Strings(files)
	ctx := access.WithPrincipal(context.Background(), access.Local())
	ab := &accessBench{node: node}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		bundle, err := fhir.ParseResource(data)
		if err != nil {
			return nil, err
		}
		res, err := node.Engine.Import(ctx, bundle)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		for _, r := range res {
			if r.Write != nil && r.Write.Resource != nil && r.Write.Resource.Type == "Patient" {
				ab.patients = append(ab.patients, r.Write.Resource.ID)
			}
		}
	}
	if len(ab.patients) < 40 {
		return nil, fmt.Errorf("%d patients loaded", len(ab.patients))
	}
	// The clinician's panel: every sixth patient, 20 in all.
	for i := 0; i < len(ab.patients) && len(ab.panel) < 20; i += 6 {
		ab.panel = append(ab.panel, ab.patients[i])
	}
	for _, p := range ab.panel {
		if _, err := node.Engine.Create(ctx, "CareTeam", careTeam(p, "bench-dr"), ""); err != nil {
			return nil, err
		}
	}
	consents := []map[string]any{
		privacyConsent(ab.panel[1], map[string]any{"type": "permit", "provision": []any{map[string]any{"type": "deny",
			"class": []any{map[string]any{"system": "http://hl7.org/fhir/resource-types", "code": "MedicationRequest"}}}}}),
		privacyConsent(ab.panel[2], map[string]any{"type": "deny"}),
	}
	for _, c := range consents {
		if _, err := node.Engine.Create(ctx, "Consent", c, ""); err != nil {
			return nil, err
		}
	}
	return ab, nil
}

// BenchmarkAccessSearch measures, in one run, the p50 of the same
// searches by a clinician (relationship rules, labels and consent: the
// policy's conditions in the query), by the role with unrestricted access
// (service: every patient, every label) and by the hestia command (no
// policy at all), alternating request by request. It reports the p50s and
// their ratios (target: clinician/service at most 1.2).
//
//	go test ./internal/server -run X -bench AccessSearch -benchtime 400x
func BenchmarkAccessSearch(b *testing.B) {
	ab := loadAccessBench(b)
	x := ab.panel[0]
	clinician := &access.Principal{ID: "bench-clinician", Kind: access.KindUser, Roles: []string{"clinician"},
		FHIRUser: "Practitioner/bench-dr", Scopes: []string{"user/*.cruds"}}
	service := &access.Principal{ID: "bench-service", Kind: access.KindService, Client: "bench-service", Scopes: []string{"system/*.cruds"}}
	queries := []struct{ name, typ, q string }{
		{"Observation?patient&code", "Observation", "patient=" + x + "&code=http://loinc.org|8867-4"},
		{"Condition?patient", "Condition", "patient=" + x},
		{"Encounter?patient&date", "Encounter", "patient=" + x + "&date=ge2010"},
		{"MedicationRequest?patient&_include", "MedicationRequest", "patient=" + x + "&_include=MedicationRequest:medication"},
		{"Observation?patient&category&_sort", "Observation", "patient=" + x + "&category=laboratory&_sort=-date&_count=50"},
		{"Observation?code&_count=50", "Observation", "code=http://loinc.org|8867-4&_count=50"},
		{"Patient?birthdate", "Patient", "birthdate=ge1990&_count=50"},
	}
	for _, qq := range queries {
		params, err := url.ParseQuery(qq.q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(qq.name, func(b *testing.B) {
			m := interleaved(b, []*access.Principal{access.Local(), clinician, service}, func(ctx context.Context) error {
				_, err := ab.node.Engine.Search(ctx, qq.typ, params, engine.SearchOptions{})
				return err
			})
			u, c, sv := m[0], m[1], m[2]
			b.ReportMetric(u, "p50-unrestricted-µs")
			b.ReportMetric(c, "p50-clinician-µs")
			b.ReportMetric(sv, "p50-service-µs")
			if u > 0 && sv > 0 {
				b.ReportMetric(c/sv, "clinician/service")
				b.ReportMetric(c/u, "clinician/unrestricted")
				b.ReportMetric(sv/u, "service/unrestricted")
			}
		})
	}
}

// BenchmarkAccessRead measures, in one run, the p50 of reading one
// Observation by id as the hestia command (no policy), the service role
// and a clinician (relationship, labels, consent checked on the resource).
//
//	go test ./internal/server -run X -bench AccessRead -benchtime 3000x
func BenchmarkAccessRead(b *testing.B) {
	ab := loadAccessBench(b)
	ctx := access.WithPrincipal(context.Background(), access.Local())
	params, _ := url.ParseQuery("patient=" + ab.panel[0] + "&_count=1")
	page, err := ab.node.Engine.Search(ctx, "Observation", params, engine.SearchOptions{})
	if err != nil || len(page.Result.Matches) == 0 {
		b.Fatal("no observation", err)
	}
	id := page.Result.Matches[0].ID
	who := []*access.Principal{access.Local(),
		{ID: "bench-service", Kind: access.KindService, Client: "bench-service", Scopes: []string{"system/*.cruds"}},
		{ID: "bench-clinician", Kind: access.KindUser, Roles: []string{"clinician"}, FHIRUser: "Practitioner/bench-dr", Scopes: []string{"user/*.cruds"}}}
	m := interleaved(b, who, func(ctx context.Context) error {
		_, err := ab.node.Engine.Read(ctx, "Observation", id)
		return err
	})
	u, sv, c := m[0], m[1], m[2]
	b.ReportMetric(u, "p50-unrestricted-µs")
	b.ReportMetric(sv, "p50-service-µs")
	b.ReportMetric(c, "p50-clinician-µs")
}

// interleaved runs fn b.N times as each principal of who, alternating
// request by request (drift of the machine falls on all alike), and
// returns the p50 of each, in microseconds.
func interleaved(b *testing.B, who []*access.Principal, fn func(ctx context.Context) error) []float64 {
	lat := make([][]time.Duration, len(who))
	for i := 0; i < b.N; i++ {
		for j, p := range who {
			ctx := access.WithPrincipal(context.Background(), p)
			t0 := time.Now()
			if err := fn(ctx); err != nil {
				b.Fatal(err)
			}
			lat[j] = append(lat[j], time.Since(t0))
		}
	}
	out := make([]float64, len(who))
	for j := range who {
		out[j] = p50(lat[j])
	}
	return out
}

// p50 is the median of latencies, in microseconds.
func p50(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds())
}
