package server

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// failureLimiter bounds the authentication failures recorded per client
// address: anyone can send requests without a token, and each failure is a
// durable, never-pruned audit record. Within a minute an address gets
// failureBurst records; the failures beyond are counted, and the count is
// recorded with the address's first failure of a later minute.
type failureLimiter struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*failureWindow
}

type failureWindow struct {
	start      time.Time
	count      int
	suppressed int
}

const (
	failureBurst   = 30
	failureWindows = 10000
)

func newFailureLimiter(now func() time.Time) *failureLimiter {
	return &failureLimiter{now: now, m: map[string]*failureWindow{}}
}

// allow reports whether a failure from addr is recorded, and how many
// failures of an earlier minute were not (to record with it). IPv6
// addresses count per /64; beyond failureWindows addresses, new ones share
// one window.
func (l *failureLimiter) allow(addr string) (bool, int) {
	addr = limitKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.m[addr]
	if w == nil && len(l.m) >= failureWindows {
		// The table is full: new addresses count by a wider prefix (IPv4
		// /16, IPv6 /48), and beyond twice the size, together.
		addr = widerKey(addr)
		if w = l.m[addr]; w == nil && len(l.m) >= 2*failureWindows {
			addr = "others"
			w = l.m[addr]
		}
	}
	if w == nil || now.Sub(w.start) >= time.Minute {
		prev := 0
		if w != nil {
			prev = w.suppressed
		}
		w = &failureWindow{start: now, count: 1}
		l.m[addr] = w
		return true, prev
	}
	w.count++
	if w.count > failureBurst {
		w.suppressed++
		return false, 0
	}
	return true, 0
}

// expired removes the windows that closed and returns, by address, the
// failures they did not record one by one (Server.Serve records them every
// minute, so none is lost when an address stops).
func (l *failureLimiter) expired() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	out := map[string]int{}
	for k, w := range l.m {
		if now.Sub(w.start) >= time.Minute {
			if w.suppressed > 0 {
				out[k] = w.suppressed
			}
			delete(l.m, k)
		}
	}
	return out
}

// drain removes every window and returns the failures they did not record
// one by one (at shutdown).
func (l *failureLimiter) drain() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, w := range l.m {
		if w.suppressed > 0 {
			out[k] = w.suppressed
		}
	}
	l.m = map[string]*failureWindow{}
	return out
}

// widerKey is the /16 of an IPv4 address, the /48 of an IPv6 one (or of
// an IPv6 /64 key).
func widerKey(key string) string {
	if p, err := netip.ParsePrefix(key); err == nil {
		if q, err := p.Addr().Prefix(48); err == nil {
			return q.String()
		}
	}
	if a, err := netip.ParseAddr(key); err == nil && a.Is4() {
		if q, err := a.Prefix(16); err == nil {
			return q.String()
		}
	}
	return "others"
}

// limitKey is the key of an address: itself, or its /64 for IPv6.
func limitKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Is4() || a.Is4In6() {
		return addr
	}
	p, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// note counts a failure from addr and returns whether to record it, and
// with what failure text (the count of failures of an earlier minute not
// recorded one by one added).
func (l *failureLimiter) note(addr, failure string) (string, bool) {
	ok, earlier := l.allow(addr)
	return withSuppressed(failure, earlier), ok
}

// withSuppressed appends to a failure code the count of failures from the
// same address that were not recorded.
func withSuppressed(failure string, n int) string {
	if n == 0 {
		return failure
	}
	return failure + " (and " + strconv.Itoa(n) + " more from this address in an earlier minute, not recorded one by one)"
}
