package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p% of the
// values are less than or equal to it. p <= 0 gives the minimum; an empty
// slice gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	// The epsilon keeps float error (99.9 is not exact in binary) from
	// pushing an exact rank up by one.
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// latency summarises a set of request durations.
type latency struct {
	N   int
	P50 time.Duration
	P90 time.Duration
	P99 time.Duration
	Max time.Duration
}

// summarise sorts ds in place and returns its percentiles.
func summarise(ds []time.Duration) latency {
	slices.Sort(ds)
	l := latency{N: len(ds)}
	if len(ds) == 0 {
		return l
	}
	l.P50 = percentile(ds, 50)
	l.P90 = percentile(ds, 90)
	l.P99 = percentile(ds, 99)
	l.Max = ds[len(ds)-1]
	return l
}

// ms converts a duration to milliseconds for reports and JSON.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// perSecond returns n per second of d, or 0 when d is zero.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
