package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is everything one run measured; it is both the report's source and
// the -json output.
type result struct {
	Label         string            `json:"label"`
	Started       time.Time         `json:"started"`
	Command       string            `json:"command"`
	Machine       machine           `json:"machine"`
	URL           string            `json:"url"`
	TLS           string            `json:"tls"`
	Protocol      string            `json:"protocol,omitempty"`
	Settings      settings          `json:"settings"`
	Ingest        *ingestResult     `json:"ingest,omitempty"`
	Discovery     string            `json:"discovery,omitempty"`
	DataDir       *diskUsage        `json:"data_dir,omitempty"`
	Read          []loadResult      `json:"read,omitempty"`
	Proof         []loadResult      `json:"proof,omitempty"`
	Search        []loadResult      `json:"search,omitempty"`
	SearchSkipped map[string]string `json:"search_skipped,omitempty"`
	RSS           *rssResult        `json:"server_memory,omitempty"`
	Problems      []string          `json:"problems,omitempty"` // what kept a phase from running
}

type settings struct {
	Phases        []string `json:"phases"`
	Concurrency   []int    `json:"concurrency"`
	IngestClients int      `json:"ingest_clients"`
	Duration      string   `json:"duration"`
	Warmup        string   `json:"warmup"`
	Bundles       string   `json:"bundles,omitempty"`
	Limit         int      `json:"limit"`
	Seed          uint64   `json:"seed"`
}

// MarshalJSON writes a latency in milliseconds.
func (l latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		N   int     `json:"n"`
		P50 float64 `json:"p50_ms"`
		P90 float64 `json:"p90_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	}{l.N, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max)})
}

func writeJSON(path string, r *result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeReport writes the human-readable report, ending with the Markdown
// section for BENCHMARKS.md.
func writeReport(w io.Writer, r *result) {
	fmt.Fprintf(w, "Hestia load benchmark: %s\n", r.Label)
	kv := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(kv, "  started\t%s\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(kv, "  command\t%s\n", r.Command)
	fmt.Fprintf(kv, "  machine\t%s\n", machineLine(r.Machine))
	fmt.Fprintf(kv, "  server\t%s\n", serverLine(r))
	fmt.Fprintf(kv, "  load\t%s\n", loadLine(r.Settings))
	kv.Flush()

	for _, p := range r.Problems {
		fmt.Fprintf(w, "\nPROBLEM: %s\n", p)
	}
	if ing := r.Ingest; ing != nil {
		fmt.Fprintf(w, "\nIngest\n")
		fmt.Fprintf(w, "  %s bundles (%d shared), %s resources, %d clients\n",
			thousands(ing.Bundles), ing.SharedBundles, thousands(ing.Resources+ing.FailedResources), ing.Clients)
		fmt.Fprintf(w, "  wall %.3f s: %s resources/s, %s bundles/s\n", ing.Wall.Seconds(), rate(ing.ResourcesPerSec), rate(ing.BundlesPerSec))
		fmt.Fprintf(w, "  per bundle: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms (%d bundles)\n",
			msStr(ing.Latency.P50), msStr(ing.Latency.P90), msStr(ing.Latency.P99), msStr(ing.Latency.Max), ing.Latency.N)
		fmt.Fprintf(w, "  errors: %d failed bundles (%s resources)\n", len(ing.Failures), thousands(ing.FailedResources))
		for _, f := range ing.Failures {
			fmt.Fprintf(w, "    %s\n", failureLine(f))
		}
	}
	if r.Discovery != "" {
		fmt.Fprintf(w, "\nDiscovery (no ingest phase)\n  %s\n", r.Discovery)
	}
	if d := r.DataDir; d != nil {
		fmt.Fprintf(w, "\nData directory %s (%s)\n", d.Dir, d.When)
		fmt.Fprintf(w, "  %s apparent, %s allocated, %d files\n", mib(d.ApparentBytes), mib(d.AllocatedBytes), d.Files)
		for _, f := range d.Largest {
			fmt.Fprintf(w, "    %-40s %s\n", f.Path, mib(f.Bytes))
		}
	}
	if len(r.Read) > 0 {
		loadTable(w, "Read (GET Type/id, random ids)", r.Read)
	}
	if len(r.Proof) > 0 {
		loadTable(w, "Audit inclusion proofs ("+r.Proof[0].Name+")", r.Proof)
	}
	if len(r.Search) > 0 || len(r.SearchSkipped) > 0 {
		fmt.Fprintf(w, "\nSearch\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  query\tc\treq/s\tp50 ms\tp99 ms\tentries\trequests\terrors\n")
		for _, l := range r.Search {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", l.Name, l.Concurrency, rate(l.RPS),
				msStr(l.Latency.P50), msStr(l.Latency.P99), entriesStr(l), thousands(l.Requests), l.Errors)
		}
		tw.Flush()
		for _, name := range sortedKeys(r.SearchSkipped) {
			fmt.Fprintf(w, "  skipped %s: %s\n", name, r.SearchSkipped[name])
		}
	}
	writeErrorKinds(w, r)
	if m := r.RSS; m != nil {
		fmt.Fprintf(w, "\nServer memory (pid %d, VmRSS every 100 ms, %d samples)\n", m.PID, m.Samples)
		for _, p := range m.Phases {
			fmt.Fprintf(w, "  peak RSS %-8s %s\n", p.Phase, kib(p.PeakKB))
		}
		fmt.Fprintf(w, "  peak RSS overall  %s\n", kib(m.PeakKB))
		fmt.Fprintf(w, "  VmHWM             %s\n", kib(m.HWMKB))
		if m.Note != "" {
			fmt.Fprintf(w, "  %s\n", m.Note)
		}
	}
	fmt.Fprintf(w, "\nMarkdown for BENCHMARKS.md\n\n")
	writeMarkdown(w, r)
}

func writeErrorKinds(w io.Writer, r *result) {
	var lines []string
	for _, l := range append(slices.Clone(r.Read), r.Search...) {
		for _, k := range sortedKeys(l.ErrorKinds) {
			lines = append(lines, fmt.Sprintf("  %s c=%d: %s ×%d", l.Name, l.Concurrency, k, l.ErrorKinds[k]))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nErrors by kind\n%s\n", strings.Join(lines, "\n"))
	}
}

// writeMarkdown writes the section to paste into BENCHMARKS.md.
func writeMarkdown(w io.Writer, r *result) {
	fmt.Fprintf(w, "### %s (%s)\n\n", r.Label, r.Started.Format("2006-01-02"))
	fmt.Fprintf(w, "- Machine: %s\n", machineLine(r.Machine))
	fmt.Fprintf(w, "- Server: %s\n", serverLine(r))
	fmt.Fprintf(w, "- Command: `%s`\n", r.Command)
	fmt.Fprintf(w, "- Load: %s\n", loadLine(r.Settings))
	if ing := r.Ingest; ing != nil {
		fmt.Fprintf(w, "- Ingest: %s bundles, %s resources, %d clients, %.1f s: **%s resources/s**, %s bundles/s; per bundle p50 %s ms, p99 %s ms; %d failed bundles\n",
			thousands(ing.Bundles), thousands(ing.Resources+ing.FailedResources), ing.Clients, ing.Wall.Seconds(),
			rate(ing.ResourcesPerSec), rate(ing.BundlesPerSec), msStr(ing.Latency.P50), msStr(ing.Latency.P99), len(ing.Failures))
	}
	if r.Discovery != "" {
		fmt.Fprintf(w, "- Discovery: %s\n", r.Discovery)
	}
	if d := r.DataDir; d != nil {
		fmt.Fprintf(w, "- Data directory %s: %s (%d files)\n", d.When, mib(d.ApparentBytes), d.Files)
	}
	if m := r.RSS; m != nil {
		var ps []string
		for _, p := range m.Phases {
			ps = append(ps, p.Phase+" "+kib(p.PeakKB))
		}
		fmt.Fprintf(w, "- Server peak RSS: %s; overall %s (VmHWM %s)\n", strings.Join(ps, ", "), kib(m.PeakKB), kib(m.HWMKB))
	}
	if len(r.Read)+len(r.Search) == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "\n| interaction | c | req/s | p50 ms | p90 ms | p99 ms | max ms | mean entries | errors |\n")
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	row := func(kind string, l loadResult) {
		entries := "–"
		if kind == "search" {
			entries = entriesStr(l)
		}
		fmt.Fprintf(w, "| %s `%s` | %d | %s | %s | %s | %s | %s | %s | %d |\n", kind, mdEscape(l.Name), l.Concurrency, rate(l.RPS),
			msStr(l.Latency.P50), msStr(l.Latency.P90), msStr(l.Latency.P99), msStr(l.Latency.Max), entries, l.Errors)
	}
	for _, l := range r.Read {
		row("read", l)
	}
	for _, l := range r.Search {
		row("search", l)
	}
	for _, l := range r.Proof {
		row("proof", l)
	}
	fmt.Fprintln(w)
}

// mdEscape escapes the pipes of a table cell (GitHub tables need this
// inside code spans too).
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func machineLine(m machine) string {
	parts := []string{fmt.Sprintf("nproc %d", m.NumCPU)}
	if m.CPU != "" {
		parts = append(parts, m.CPU)
	}
	if m.MemTotal != "" {
		parts = append(parts, m.MemTotal+" RAM")
	}
	os := m.OS
	if m.Distro != "" {
		os += ", " + m.Distro
	}
	if m.Kernel != "" {
		os += " (kernel " + m.Kernel + ")"
	}
	return strings.Join(append(parts, os, m.GoVersion), ", ")
}

func serverLine(r *result) string {
	s := r.URL
	if r.Protocol != "" {
		s += ", " + r.Protocol
	}
	return s + ", " + r.TLS
}

func loadLine(s settings) string {
	c := make([]string, len(s.Concurrency))
	for i, n := range s.Concurrency {
		c[i] = strconv.Itoa(n)
	}
	return fmt.Sprintf("phases %s; ingest with %d clients; read and search at c=%s, %s each after %s warmup; seed %d",
		strings.Join(s.Phases, ","), s.IngestClients, strings.Join(c, ","), s.Duration, s.Warmup, s.Seed)
}

func failureLine(f ingestFailure) string {
	s := f.File + ": "
	if f.Status == 0 {
		s += "no response"
	} else {
		s += "HTTP " + strconv.Itoa(f.Status)
	}
	if f.Entry >= 0 {
		s += fmt.Sprintf(", entry %d", f.Entry)
		if f.EntryStatus != "" {
			s += " (" + f.EntryStatus + ")"
		}
	}
	return s + ": " + f.Message
}

func entriesStr(l loadResult) string {
	s := strconv.FormatFloat(l.MeanEntries, 'f', 1, 64)
	if l.MeanTotal >= 0 {
		s += " (total " + strconv.FormatFloat(l.MeanTotal, 'f', 1, 64) + ")"
	}
	return s
}

// msStr formats a duration in milliseconds with three significant decimals
// for sub-millisecond values.
func msStr(d time.Duration) string {
	v := ms(d)
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// rate formats a per-second rate.
func rate(v float64) string {
	if v >= 100 {
		return thousands(int(v + 0.5))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func kib(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// loadTable prints one interaction's results, a row per concurrency.
func loadTable(w io.Writer, title string, results []loadResult) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  c\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\trequests\terrors\t\n")
	for _, l := range results {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", l.Concurrency, rate(l.RPS),
			msStr(l.Latency.P50), msStr(l.Latency.P90), msStr(l.Latency.P99), msStr(l.Latency.Max), thousands(l.Requests), l.Errors)
	}
	tw.Flush()
}
