package server

import (
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
// failures of an earlier minute were not (to record with it).
func (l *failureLimiter) allow(addr string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.m[addr]
	if w == nil || now.Sub(w.start) >= time.Minute {
		if len(l.m) >= failureWindows {
			for k, x := range l.m {
				if now.Sub(x.start) >= time.Minute && x.suppressed == 0 {
					delete(l.m, k)
				}
			}
		}
		prev := 0
		if w != nil {
			prev = w.suppressed
		}
		w = &failureWindow{start: now}
		l.m[addr] = w
		w.count++
		return true, prev
	}
	w.count++
	if w.count > failureBurst {
		w.suppressed++
		return false, 0
	}
	return true, 0
}

// withSuppressed appends to a failure code the count of failures from the
// same address that were not recorded.
func withSuppressed(failure string, n int) string {
	if n == 0 {
		return failure
	}
	return failure + " (and " + strconv.Itoa(n) + " more from this address in an earlier minute, not recorded one by one)"
}
