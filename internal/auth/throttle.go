package auth

import (
	"strings"
	"sync"
	"time"
)

// Throttling of sign-in (NIST SP 800-63B section 5.2.2), per username and
// per client address alike, whether or not the account exists: after
// freeFailures consecutive failures each further attempt waits twice as
// long as the last (1 s, 2 s, 4 s … up to maxBackoff); after lockAfter
// consecutive failures the username or address is locked for lockFor. A
// success clears both.
const (
	freeFailures = 3
	maxBackoff   = 5 * time.Minute
	lockAfter    = 10
	lockFor      = 30 * time.Minute
	maxTracked   = 100000
)

type throttle struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, m: map[string]*failures{}}
}

func keys(username, addr string) [2]string {
	return [2]string{"u:" + strings.ToLower(username), "a:" + addr}
}

// wait returns how long the next attempt must still wait (0: go ahead).
func (t *throttle) wait(username, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var longest time.Duration
	now := t.now()
	for _, k := range keys(username, addr) {
		f := t.m[k]
		if f == nil || f.n < freeFailures {
			continue
		}
		if w := f.last.Add(backoff(f.n)).Sub(now); w > longest {
			longest = w
		}
	}
	return longest
}

func backoff(n int) time.Duration {
	if n >= lockAfter {
		return lockFor
	}
	d := time.Second << (n - freeFailures)
	return min(d, maxBackoff)
}

func (t *throttle) fail(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= maxTracked {
		t.prune()
	}
	now := t.now()
	for _, k := range keys(username, addr) {
		f := t.m[k]
		if f == nil {
			f = &failures{}
			t.m[k] = f
		}
		f.n++
		f.last = now
	}
}

func (t *throttle) succeed(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys(username, addr) {
		delete(t.m, k)
	}
}

// prune forgets entries whose wait is over (and, if that is not enough,
// everything but locks): memory stays bounded under a flood.
func (t *throttle) prune() {
	now := t.now()
	for k, f := range t.m {
		if now.Sub(f.last) > backoff(f.n) {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxTracked {
		for k, f := range t.m {
			if f.n < lockAfter {
				delete(t.m, k)
			}
		}
	}
}
