// Command bench is Hestia's load driver. It speaks only the FHIR R4 REST API,
// so it measures any FHIR server, Hestia or another:
//
//   - ingest: POST each Synthea transaction Bundle to the base URL with N
//     concurrent clients (the shared organization and practitioner Bundles
//     first) and check each transaction-response;
//   - read: GET Type/id of random ingested resources for a fixed time at each
//     concurrency;
//   - search: a fixed set of searches (see searchTemplates) at each
//     concurrency.
//
// It prints a report with a Markdown section for BENCHMARKS.md and can write
// the same results as JSON. With -server-cmd or -server-pid it also samples
// the server's resident memory.
//
// Only the request and response (the whole body) are timed; reading and
// parsing bundles, choosing ids and checking responses happen outside the
// clock. Latency percentiles are nearest-rank over the sorted durations of
// successful requests; failed requests are counted, not timed.
//
// STYLE.md keeps crypto/* inside internal/crypt. This tool is outside the
// server and needs crypto/tls, crypto/x509 and crypto/sha256 for one thing:
// trusting the server's self-signed certificate by its SHA-256 fingerprint.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is every setting of one run, from the flags.
type config struct {
	URL          string
	Fingerprint  string
	CAFile       string
	SkipVerify   bool
	HTTP2        bool
	ServerCmd    string
	ServerLog    string
	ServerPID    int
	StartTimeout time.Duration
	DataDir      string
	Bundles      string
	Limit        int
	Phases       []string
	Concurrency  []int
	IngestC      int
	Duration     time.Duration
	Warmup       time.Duration
	Timeout      time.Duration
	Seed         uint64
	JSON         string
	Label        string
	ClientID     string // a backend service with a client secret (HESTIA_BENCH_CLIENT_SECRET)
	ClientSecret string
}

var allPhases = []string{"ingest", "read", "search", "proof"}

const usageHead = `Usage: go run ./bench [flags]

Load driver for a FHIR R4 server: ingests Synthea transaction Bundles, then
measures reads and a fixed set of searches at each concurrency level, and
prints a report with a Markdown table for BENCHMARKS.md.

Trust the server's self-signed certificate with -tls-fingerprint (the SHA-256
the server prints at start) or -ca; with -server-cmd the fingerprint is read
from the server's output. Plain http:// needs neither.

Searches measured (X a patient, SYSTEM|CODE an Observation code it has, F the
first 3 letters of a family name, YYYY a birth year, N a median value):
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.URL, "url", "https://127.0.0.1:8443", "base `URL` of the FHIR server (https://, or http:// for a server started with --insecure-http)")
	fs.StringVar(&c.Fingerprint, "tls-fingerprint", "", "pin the server certificate by the SHA-256 of its DER, 64 `hex` digits with or without colons (printed by the server at start)")
	fs.StringVar(&c.CAFile, "ca", "", "verify the server certificate against the PEM CA certificates in `FILE` instead of pinning")
	fs.BoolVar(&c.SkipVerify, "insecure-skip-verify", false, "DO NOT VERIFY the server certificate at all (fallback only; the report says so)")
	fs.BoolVar(&c.HTTP2, "http2", false, "negotiate HTTP/2 over TLS (clients share connections); default is one HTTP/1.1 keep-alive connection per client")
	fs.StringVar(&c.ClientID, "client-id", os.Getenv("HESTIA_BENCH_CLIENT_ID"), "`id` of a backend service registered with --secret (hestia client add); its secret comes from HESTIA_BENCH_CLIENT_SECRET, never a flag. Access tokens are fetched from URL/oauth2/token and renewed before they expire (default $HESTIA_BENCH_CLIENT_ID; none: no token is sent)")
	fs.StringVar(&c.ServerCmd, "server-cmd", "", "start the server with this `command` (run as sh -c 'exec COMMAND'; use a built binary, not go run), read its fingerprint line, wait for GET /metadata to answer 200, sample its RSS and stop it with SIGTERM at the end")
	fs.StringVar(&c.ServerLog, "server-log", "", "with -server-cmd, write all server output to `FILE` (otherwise only output before the server is ready is shown, on stderr)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "sample the RSS of this already running server `pid` (instead of -server-cmd)")
	fs.DurationVar(&c.StartTimeout, "start-timeout", time.Minute, "with -server-cmd, how long to wait for the fingerprint line and for GET /metadata")
	fs.StringVar(&c.DataDir, "data-dir", "", "report the size on disk of the server's data `directory` (all files, SQLite -wal/-shm included) after ingest")
	fs.StringVar(&c.Bundles, "bundles", "/work/shared/data/synthea/bundles", "`directory` of Synthea transaction Bundles (*.json)")
	fs.IntVar(&c.Limit, "limit", 0, "ingest at most `N` patient bundles, in name order (0 = all); the two shared bundles are always ingested")
	phases := fs.String("phases", strings.Join(allPhases, ","), "comma-separated `phases` to run, from ingest,read,search,proof (without ingest, ids are discovered by searching; proof asks for audit-log inclusion proofs)")
	conc := fs.String("c", "1,16", "comma-separated concurrency `levels` for the read and search phases")
	fs.IntVar(&c.IngestC, "ingest-c", 4, "concurrent ingest `clients`")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measurement time for each read/search target at each concurrency")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured warm-up before each read/search measurement")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "timeout of one request (a transaction bundle included)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the random choice of ids and search values, for repeatable runs")
	fs.StringVar(&c.JSON, "json", "", "also write all results as JSON to `FILE`")
	fs.StringVar(&c.Label, "label", "", "name of the run in the report (default: the host name and the date)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		for _, t := range searchTemplates {
			fmt.Fprintf(fs.Output(), "  %s\n", t)
		}
		fmt.Fprintf(fs.Output(), "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Phases, err = parsePhases(*phases); err != nil {
		return nil, err
	}
	if c.Concurrency, err = parseInts(*conc); err != nil {
		return nil, fmt.Errorf("-c: %w", err)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("-url %q: want https://host:port[/path] or http://…", c.URL)
	}
	n := 0
	for _, set := range []bool{c.Fingerprint != "", c.CAFile != "", c.SkipVerify} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("use only one of -tls-fingerprint, -ca and -insecure-skip-verify")
	}
	if c.Fingerprint != "" {
		if _, err := parseFingerprint(c.Fingerprint); err != nil {
			return err
		}
	}
	if c.ServerCmd != "" && c.ServerPID != 0 {
		return errors.New("use -server-cmd or -server-pid, not both")
	}
	if c.ClientID != "" {
		c.ClientSecret = os.Getenv("HESTIA_BENCH_CLIENT_SECRET")
		if c.ClientSecret == "" {
			return errors.New("-client-id needs the client's secret in HESTIA_BENCH_CLIENT_SECRET")
		}
	}
	if c.ServerLog != "" && c.ServerCmd == "" {
		return errors.New("-server-log needs -server-cmd")
	}
	if c.IngestC < 1 || c.Limit < 0 || c.Duration <= 0 || c.Warmup < 0 || c.Timeout <= 0 {
		return errors.New("-ingest-c must be at least 1, -limit at least 0, -duration and -timeout positive, -warmup not negative")
	}
	return nil
}

func parsePhases(s string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("-phases: unknown phase %q (want %s)", p, strings.Join(allPhases, ","))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-phases: no phase given")
	}
	// Phases always run in the order ingest, read, search.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(allPhases, a) - slices.Index(allPhases, b) })
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg, commandLine(os.Args[1:]), os.Stderr)
	if res != nil {
		writeReport(os.Stdout, res)
		if cfg.JSON != "" {
			if jerr := writeJSON(cfg.JSON, res); jerr != nil {
				fmt.Fprintln(os.Stderr, "bench: write JSON:", jerr)
				err = errors.Join(err, jerr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// commandLine shows the run as a command to paste into a shell.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./bench"}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
