package main

import (
	"testing"
	"time"
)

func msSeq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentileIsNearestRank(t *testing.T) {
	tests := []struct {
		n    int // values 1..n ms
		p    float64
		want time.Duration
	}{
		{0, 50, 0},
		{1, 50, 1 * time.Millisecond},
		{1, 99, 1 * time.Millisecond},
		{3, 33, 1 * time.Millisecond},  // rank ceil(0.99) = 1
		{3, 34, 2 * time.Millisecond},  // rank ceil(1.02) = 2
		{3, 50, 2 * time.Millisecond},  // rank ceil(1.5) = 2
		{3, 99, 3 * time.Millisecond},  // rank ceil(2.97) = 3
		{10, 0, 1 * time.Millisecond},  // minimum
		{10, 10, 1 * time.Millisecond}, // rank 1
		{10, 50, 5 * time.Millisecond},
		{10, 90, 9 * time.Millisecond},
		{10, 99, 10 * time.Millisecond},
		{10, 100, 10 * time.Millisecond},
		{100, 50, 50 * time.Millisecond},
		{100, 90, 90 * time.Millisecond},
		{100, 99, 99 * time.Millisecond},
		{1000, 99, 990 * time.Millisecond},
		{1000, 99.9, 999 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(msSeq(tt.n), tt.p); got != tt.want {
			t.Errorf("percentile(1..%d ms, %v) = %v, want %v", tt.n, tt.p, got, tt.want)
		}
	}
}

func TestSummariseSortsBeforeTakingPercentiles(t *testing.T) {
	ds := []time.Duration{9, 3, 7, 1, 5, 10, 2, 8, 4, 6}
	for i := range ds {
		ds[i] *= time.Millisecond
	}
	got := summarise(ds)
	want := latency{N: 10, P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	if got != want {
		t.Errorf("summarise = %+v, want %+v", got, want)
	}
	if (summarise(nil) != latency{}) {
		t.Errorf("summarise(nil) is not zero")
	}
}

func TestPerSecondOfZeroDurationIsZero(t *testing.T) {
	if got := perSecond(10, 0); got != 0 {
		t.Errorf("perSecond(10, 0) = %v", got)
	}
	if got := perSecond(10, 2*time.Second); got != 5 {
		t.Errorf("perSecond(10, 2s) = %v, want 5", got)
	}
}
