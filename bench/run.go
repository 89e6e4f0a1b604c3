package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"time"
)

// rssEvery is how often the server's resident memory is sampled.
const rssEvery = 100 * time.Millisecond

// run carries out the phases of cfg and returns what it measured. A result
// comes back even with an error, so that an interrupted run still reports
// what it has. Progress goes to logw.
func run(ctx context.Context, cfg *config, command string, logw io.Writer) (res *result, err error) {
	base, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	res = &result{
		Label:   cfg.Label,
		Started: time.Now(),
		Command: command,
		Machine: describeMachine(),
		URL:     cfg.URL,
		Settings: settings{
			Phases: cfg.Phases, Concurrency: cfg.Concurrency, IngestClients: cfg.IngestC,
			Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Limit: cfg.Limit, Seed: cfg.Seed,
		},
	}
	if res.Label == "" {
		host, _ := os.Hostname()
		res.Label = host + " " + res.Started.Format("2006-01-02 15:04")
	}
	has := func(p string) bool { return slices.Contains(cfg.Phases, p) }

	t := trust{CAFile: cfg.CAFile, SkipVerify: cfg.SkipVerify}
	if cfg.Fingerprint != "" {
		t.Fingerprint, _ = parseFingerprint(cfg.Fingerprint) // checked by validate
	}
	if cfg.SkipVerify && base.Scheme == "https" {
		fmt.Fprintln(logw, "bench: WARNING: -insecure-skip-verify: the server certificate is NOT verified")
	}

	// Setup, outside any clock: read and parse every bundle.
	var files []*bundleFile
	if has("ingest") {
		res.Settings.Bundles = cfg.Bundles
		if files, err = loadBundles(cfg.Bundles, cfg.Limit); err != nil {
			return nil, err
		}
	}

	var srv *serverProc
	var sampler *rssSampler
	pid := cfg.ServerPID
	defer func() {
		if sampler != nil {
			res.RSS = sampler.finish()
		}
		if srv != nil {
			if serr := srv.stop(10 * time.Second); serr != nil {
				res.Problems = append(res.Problems, "stopping the server: "+serr.Error())
			}
		}
	}()
	if cfg.ServerCmd != "" {
		if srv, err = startServer(cfg.ServerCmd, cfg.ServerLog, logw); err != nil {
			return nil, err
		}
		pid = srv.pid()
	}
	if pid != 0 {
		if sampler, err = startRSS(pid, rssEvery); err != nil {
			return res, err
		}
	}
	if srv != nil && base.Scheme == "https" && len(t.Fingerprint) == 0 && t.CAFile == "" && !t.SkipVerify {
		if t.Fingerprint, err = srv.fingerprint(ctx, cfg.StartTimeout); err != nil {
			return res, err
		}
	}
	res.TLS = t.describe(base)
	conns := max(cfg.IngestC, slices.Max(cfg.Concurrency))
	cl, err := newClient(t, conns, cfg.HTTP2, cfg.Timeout)
	if err != nil {
		return res, err
	}
	if cfg.ClientID != "" {
		cl = withTokens(ctx, cl, base, cfg.ClientID, cfg.ClientSecret)
	}
	var exited <-chan struct{}
	wait := 5 * time.Second
	if srv != nil {
		exited, wait = srv.exited, cfg.StartTimeout
	}
	if res.Protocol, err = waitReady(ctx, cl, base, exited, wait); err != nil {
		return res, fmt.Errorf("server not reachable at %s: %w", cfg.URL, err)
	}
	if srv != nil {
		srv.ready.Store(true)
	}
	phase := func(name string) {
		if sampler != nil {
			sampler.setPhase(name)
		}
	}

	var data *dataset
	if has("ingest") {
		phase("ingest")
		fmt.Fprintf(logw, "bench: ingest: %d bundles with %d clients\n", len(files), cfg.IngestC)
		res.Ingest, data = runIngest(ctx, cl, base, files, cfg.IngestC)
		fmt.Fprintf(logw, "bench: ingest: %d resources in %.1f s, %d failed bundles\n",
			res.Ingest.Resources, res.Ingest.Wall.Seconds(), len(res.Ingest.Failures))
		if cfg.DataDir != "" {
			if res.DataDir, err = measureDir(cfg.DataDir, "after ingest"); err != nil {
				res.Problems = append(res.Problems, "data directory: "+err.Error())
			}
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if (has("read") || has("search")) && data == nil {
		phase("discovery")
		fmt.Fprintf(logw, "bench: discovering ids by searching\n")
		if data, err = discover(ctx, cl, base, cfg.Seed); err != nil {
			res.Problems = append(res.Problems, err.Error())
		} else {
			res.Discovery = fmt.Sprintf("%d patients, %d resource ids (records of up to %d patients fetched)",
				len(data.Patients), len(data.Refs), discoverPatients)
		}
	}
	measure := func(kind string, tg target) []loadResult {
		var out []loadResult
		for _, c := range cfg.Concurrency {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(logw, "bench: %s %s c=%d\n", kind, tg.Name, c)
			out = append(out, runLoad(ctx, cl, base, tg, c, cfg.Warmup, cfg.Duration, cfg.Seed))
		}
		return out
	}
	if has("read") && data != nil {
		phase("read")
		if tg, terr := readTarget(data); terr != nil {
			res.Problems = append(res.Problems, terr.Error())
		} else {
			res.Read = measure("read", tg)
		}
	}
	if has("search") && data != nil {
		phase("search")
		targets, skipped := searchTargets(data)
		if len(skipped) > 0 {
			res.SearchSkipped = skipped
		}
		for _, tg := range targets {
			res.Search = append(res.Search, measure("search", tg)...)
		}
	}
	if has("proof") {
		phase("proof")
		if tg, terr := proofTarget(ctx, cl, base); terr != nil {
			res.Problems = append(res.Problems, terr.Error())
		} else {
			res.Proof = measure("proof", tg)
		}
	}
	if cfg.DataDir != "" && res.DataDir == nil && !has("ingest") {
		if res.DataDir, err = measureDir(cfg.DataDir, "at the end"); err != nil {
			res.Problems = append(res.Problems, "data directory: "+err.Error())
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if len(res.Problems) > 0 {
		return res, errors.New("some phases could not run; see PROBLEM lines")
	}
	return res, nil
}
