package crypt

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id's cost parameters.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultPasswordParams are above the OWASP Password Storage minimum for
// argon2id (m=19 MiB, t=2, p=1): 46 MiB, 1 pass is OWASP's first
// equivalent; Hestia takes 19 MiB with 2 passes, the minimum, raised by
// configuration as hardware allows (hashes keep their parameters).
var DefaultPasswordParams = PasswordParams{Memory: 19 << 10, Time: 2, Threads: 1}

// ErrPasswordHash is returned for a stored hash that does not parse.
var ErrPasswordHash = errors.New("crypt: malformed password hash")

// HashPassword hashes a password with argon2id and a random 16-byte salt,
// in the PHC string format: $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func HashPassword(password string, p PasswordParams) string {
	salt := RandomSecret(16)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword reports whether password matches a hash made by
// HashPassword (with whatever parameters it was made), comparing in
// constant time, and whether the hash's parameters are below p (it should
// be replaced at the next successful sign-in).
func CheckPassword(hash, password string, p PasswordParams) (ok, stale bool, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, false, ErrPasswordHash
	}
	var v int
	var hp PasswordParams
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, false, ErrPasswordHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &hp.Memory, &hp.Time, &hp.Threads); err != nil ||
		hp.Memory == 0 || hp.Time == 0 || hp.Threads == 0 || hp.Memory > 4<<20 || hp.Time > 100 {
		return false, false, ErrPasswordHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 {
		return false, false, ErrPasswordHash
	}
	got := argon2.IDKey([]byte(password), salt, hp.Time, hp.Memory, hp.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	stale = hp.Memory < p.Memory || hp.Time < p.Time || hp.Threads < p.Threads
	return ok, stale, nil
}
