package crypt

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	p := DefaultPasswordParams
	h := HashPassword("correct horse battery staple", p)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %s", h)
	}
	if h2 := HashPassword("correct horse battery staple", p); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if ok, stale, err := CheckPassword(h, "correct horse battery staple", p); !ok || stale || err != nil {
		t.Fatalf("right password: %v %v %v", ok, stale, err)
	}
	if ok, _, err := CheckPassword(h, "correct horse battery stapler", p); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	// Raised parameters: the old hash still checks, and is stale.
	raised := PasswordParams{Memory: 32 << 10, Time: 3, Threads: 1}
	if ok, stale, _ := CheckPassword(h, "correct horse battery staple", raised); !ok || !stale {
		t.Fatalf("old hash under raised parameters: ok %v stale %v", ok, stale)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", strings.Replace(h, "m=19456", "m=999999999", 1), h[:len(h)-30]} {
		if _, _, err := CheckPassword(bad, "x", p); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

// BenchmarkCheckPassword is the cost of one sign-in's password check with
// the default parameters.
func BenchmarkCheckPassword(b *testing.B) {
	h := HashPassword("correct horse battery staple", DefaultPasswordParams)
	for b.Loop() {
		CheckPassword(h, "correct horse battery staple", DefaultPasswordParams)
	}
}
