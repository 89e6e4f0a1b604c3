package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Behind a trusted proxy the client's address is the right-most
// X-Forwarded-For hop that is not a trusted proxy (what a client writes
// further left is not believed); without trusted proxies the header is
// ignored.
func TestTrustedProxies(t *testing.T) {
	n := 0
	addressOf := func(s *testServer, xff string) string {
		t.Helper()
		n++
		id := "probe" + strconv.Itoa(n)
		s.do("GET", "/Patient/"+id, nil, "X-Forwarded-For", xff)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			head, _ := s.node.DB.AuditHead()
			for _, ev := range s.auditEvents(head) {
				if subtype(ev) != "read" || !strings.Contains(fmt.Sprint(ev["entity"]), "Patient/"+id+"]") {
					continue
				}
				for _, a := range ev["agent"].([]any) {
					if n, ok := a.(map[string]any)["network"].(map[string]any); ok {
						return n["address"].(string)
					}
				}
			}
		}
		t.Fatal("no read event")
		return ""
	}
	cfg := testConfig(t)
	cfg.TrustedProxies = "127.0.0.1, 10.0.0.0/8"
	s := openAt(t, cfg)
	for xff, want := range map[string]string{
		"203.0.113.9":               "203.0.113.9",
		"198.51.100.1, 203.0.113.9": "203.0.113.9", // the left hop is the client's word
		"203.0.113.9, 10.1.2.3":     "203.0.113.9", // through a second trusted proxy
		"not-an-address":            "127.0.0.1",
		"2001:db8::7":               "2001:db8::7",
	} {
		if got := addressOf(s, xff); got != want {
			t.Errorf("X-Forwarded-For %q: client %s, want %s", xff, got, want)
		}
	}
	plain := newTestServer(t)
	if got := addressOf(plain, "203.0.113.9"); got != "127.0.0.1" {
		t.Errorf("without trusted proxies X-Forwarded-For was believed: %s", got)
	}
}
