package server

import (
	"strings"
	"testing"
	"time"
)

// An address gets failureBurst recorded failures a minute; the rest are
// counted and the count comes with its next recorded failure.
func TestFailureLimiter(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l := newFailureLimiter(func() time.Time { return now })
	for i := range failureBurst {
		if ok, n := l.allow("198.51.100.1"); !ok || n != 0 {
			t.Fatalf("failure %d: %v %d", i, ok, n)
		}
	}
	for range 5 {
		if ok, _ := l.allow("198.51.100.1"); ok {
			t.Fatal("a failure beyond the burst was recorded")
		}
	}
	if ok, _ := l.allow("198.51.100.2"); !ok {
		t.Fatal("another address is limited too")
	}
	now = now.Add(time.Minute)
	ok, n := l.allow("198.51.100.1")
	if !ok || n != 5 {
		t.Fatalf("next minute: %v, %d suppressed", ok, n)
	}
	if got := withSuppressed("invalid_token", n); !strings.Contains(got, "5 more") {
		t.Fatalf("summary %q", got)
	}
	// An address that stops: its count comes out when its window closes.
	for range failureBurst + 3 {
		l.allow("2001:db8::1")
		l.allow("2001:db8::2") // the same /64
	}
	now = now.Add(time.Minute)
	if got := l.expired(); got["2001:db8::/64"] != 2*(failureBurst+3)-failureBurst {
		t.Fatalf("expired windows %v", got)
	}
}
