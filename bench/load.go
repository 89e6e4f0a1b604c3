package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// target is one thing to measure under load: a request generator and the
// check its responses must pass. Both run outside the timed section.
type target struct {
	Name string // the documented template, e.g. "Patient?family=F"
	// Next returns the next request path relative to the base URL.
	Next func(r *rand.Rand) string
	// Check inspects a 200 response to rel. It returns the number of
	// entries (and Bundle.total, or -1) for searches; an error counts the
	// request as failed.
	Check func(rel string, body []byte) (entries, total int, err error)
}

// loadResult is one measurement of a target at one concurrency.
type loadResult struct {
	Name        string         `json:"name"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"` // completed, ok or not
	Errors      int            `json:"errors"`
	RPS         float64        `json:"requests_per_second"`
	Latency     latency        `json:"latency"` // successful requests only
	MeanEntries float64        `json:"mean_entries"`
	MeanTotal   float64        `json:"mean_total"` // mean Bundle.total where present, -1 if never
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	Skipped     string         `json:"skipped,omitempty"`
}

// worker state, merged after the run so the hot loop takes no locks.
type workerTally struct {
	durations []time.Duration
	requests  int
	entries   int
	totals    int
	nTotals   int
	errors    map[string]int
}

// runLoad drives t with c concurrent clients: first for warmup (discarded),
// then for dur. Each client waits for its response before sending the next
// request. seed makes the sequence of requests repeatable.
func runLoad(ctx context.Context, cl *http.Client, base *url.URL, t target, c int, warmup, dur time.Duration, seed uint64) loadResult {
	if warmup > 0 {
		drive(ctx, cl, base, t, c, warmup, seed^0x5eed)
	}
	tallies, elapsed := drive(ctx, cl, base, t, c, dur, seed)
	res := loadResult{Name: t.Name, Concurrency: c, Seconds: elapsed.Seconds(), MeanTotal: -1}
	var all []time.Duration
	var entries, totals, nTotals int
	for _, w := range tallies {
		all = append(all, w.durations...)
		res.Requests += w.requests
		entries += w.entries
		totals += w.totals
		nTotals += w.nTotals
		for k, n := range w.errors {
			if res.ErrorKinds == nil {
				res.ErrorKinds = map[string]int{}
			}
			res.ErrorKinds[k] += n
			res.Errors += n
		}
	}
	res.RPS = perSecond(res.Requests, elapsed)
	res.Latency = summarise(all)
	if ok := len(all); ok > 0 {
		res.MeanEntries = float64(entries) / float64(ok)
	}
	if nTotals > 0 {
		res.MeanTotal = float64(totals) / float64(nTotals)
	}
	return res
}

// drive runs c clients until dur has passed; requests in flight at the
// deadline complete and count, and each client sends at least one. It returns the tallies and the time from the
// start until the last client finished.
func drive(ctx context.Context, cl *http.Client, base *url.URL, t target, c int, dur time.Duration, seed uint64) ([]*workerTally, time.Duration) {
	tallies := make([]*workerTally, c)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for i := range c {
		w := &workerTally{errors: map[string]int{}}
		tallies[i] = w
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() {
			var buf bytes.Buffer
			// Every client sends at least one request, so a result is
			// never empty however late its goroutine starts.
			for first := true; ctx.Err() == nil && (first || time.Now().Before(deadline)); first = false {
				rel := t.Next(r)
				req, err := newGet(ctx, base, rel)
				if err != nil {
					w.errors["bad request: "+shorten(err.Error(), 80)]++
					w.requests++
					continue
				}
				o := do(cl, req, &buf)
				w.requests++
				if o.Err != nil || o.Status != http.StatusOK {
					w.errors[errorKey(o)]++
					continue
				}
				n, total := 0, -1
				if t.Check != nil {
					if n, total, err = t.Check(rel, buf.Bytes()); err != nil {
						w.errors[shorten(err.Error(), 120)]++
						continue
					}
				}
				w.durations = append(w.durations, o.Elapsed)
				w.entries += n
				if total >= 0 {
					w.totals += total
					w.nTotals++
				}
			}
		})
	}
	wg.Wait()
	return tallies, time.Since(start)
}
