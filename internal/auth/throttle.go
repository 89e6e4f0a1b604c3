package auth

import (
	"strings"
	"sync"
	"time"
)

// Throttling of sign-in (NIST SP 800-63B section 5.2.2), per username and
// per client address alike, whether or not the account exists, and per
// username at the second factor: after freeFailures consecutive failures
// each further attempt waits twice as long as the last (1 s, 2 s, 4 s … up
// to maxBackoff); after lockAfter consecutive failures the key is locked
// for lockFor. Attempts are counted before they are checked; a success
// clears its step's keys.
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

// Throttle keys: the username at the password step, the username at the
// second-factor step (a correct password does not clear it), and the
// client address (both steps).
func userKey(username string) string { return "u:" + strings.ToLower(username) }
func mfaKey(username string) string  { return "m:" + strings.ToLower(username) }
func addrKey(addr string) string     { return "a:" + addr }

// begin reserves an attempt: if any key must still wait, it returns how
// long; otherwise it counts the attempt as a failure of every key at once
// (so concurrent guesses cannot all pass the check before any fails) and
// returns 0. A success then clears what it should (succeed).
func (t *throttle) begin(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var longest time.Duration
	now := t.now()
	for _, k := range keys {
		f := t.m[k]
		if f == nil || f.n < freeFailures {
			continue
		}
		if w := f.last.Add(backoff(f.n)).Sub(now); w > longest {
			longest = w
		}
	}
	if longest > 0 {
		return longest
	}
	if len(t.m) >= maxTracked {
		t.prune()
	}
	for _, k := range keys {
		f := t.m[k]
		if f == nil {
			f = &failures{}
			t.m[k] = f
		}
		f.n++
		f.last = now
	}
	return 0
}

func backoff(n int) time.Duration {
	if n >= lockAfter {
		return lockFor
	}
	d := time.Second << (n - freeFailures)
	return min(d, maxBackoff)
}

// succeed clears keys after a successful attempt.
func (t *throttle) succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
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
