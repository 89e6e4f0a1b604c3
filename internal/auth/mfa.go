package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// TOTP parameters (RFC 6238 defaults that every authenticator app reads):
// SHA-1, 6 digits, 30-second steps, one step of clock skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
)

// RecoveryCodes is how many single-use recovery codes an enrolment gives.
const RecoveryCodes = 10

// BeginTOTP starts enrolling an authenticator app: it returns the secret
// (base32) and its otpauth:// URI (for a QR code). The factor counts only
// once ConfirmTOTP has seen a code from it.
func (a *Accounts) BeginTOTP(ctx context.Context, u *User, issuer string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: u.Username, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return "", "", fmt.Errorf("auth: totp secret: %w", err)
	}
	err = a.update(ctx, u, func(u *User) error {
		if u.HasMFA() {
			return ErrMFA // enrolment is for an account without a factor
		}
		u.TOTPPending = key.Secret()
		return nil
	})
	return key.Secret(), key.URL(), err
}

// ConfirmTOTP completes the enrolment with a code from the app, throttled
// like the second factor (per username and address), with rec's audit
// record in the same transaction, and returns fresh recovery codes (shown
// once; stored hashed).
func (a *Accounts) ConfirmTOTP(ctx context.Context, u *User, code, addr string, rec Record) ([]string, error) {
	if u.TOTPPending == "" || u.TOTPSecret != "" {
		return nil, ErrMFA
	}
	if wait := a.throttle.begin(mfaKey(u.Username), addrKey(addr)); wait > 0 {
		return nil, &ThrottledError{RetryAfter: wait}
	}
	step, ok := matchTOTP(u.TOTPPending, code, 0, a.cfg.Now())
	if !ok {
		return nil, ErrMFA
	}
	a.throttle.succeed(mfaKey(u.Username), addrKey(addr))
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		codes[i] = recoveryCode()
		hashes[i] = crypt.HashToken([]byte(normalizeRecovery(codes[i])))
	}
	checked := u.TOTPPending
	err := a.updateRecorded(ctx, u, func(u *User) error {
		// As stored now: still the secret the code was checked against,
		// and still no factor (another session may have added one).
		if u.TOTPPending != checked || u.HasMFA() {
			return ErrMFA
		}
		u.TOTPSecret, u.TOTPPending, u.TOTPLastStep, u.Recovery = u.TOTPPending, "", step, hashes
		return nil
	}, rec)
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// CheckTOTP accepts a code of u's authenticator once: a code whose time
// step is not after the last accepted one is refused (replay).
func (a *Accounts) CheckTOTP(ctx context.Context, u *User, code string) error {
	if u.TOTPSecret == "" {
		return ErrMFA
	}
	step, ok := matchTOTP(u.TOTPSecret, code, u.TOTPLastStep, a.cfg.Now())
	if !ok {
		return ErrMFA
	}
	return a.update(ctx, u, func(u *User) error {
		if step <= u.TOTPLastStep {
			return ErrMFA // a concurrent sign-in used it first
		}
		u.TOTPLastStep = step
		return nil
	})
}

// matchTOTP finds the time step (within the skew) whose code is code and
// which is after last.
func matchTOTP(secret, code string, last int64, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if crypt.TokenMatches(crypt.HashToken([]byte(want)), []byte(code)) {
			return step, true
		}
	}
	return 0, false
}

// UseRecoveryCode accepts one of u's recovery codes once.
func (a *Accounts) UseRecoveryCode(ctx context.Context, u *User, code string) error {
	norm := []byte(normalizeRecovery(code))
	return a.update(ctx, u, func(u *User) error {
		for i, h := range u.Recovery {
			if crypt.TokenMatches(h, norm) {
				u.Recovery = append(u.Recovery[:i:i], u.Recovery[i+1:]...)
				return nil
			}
		}
		return ErrMFA
	})
}

// recoveryCode is 10 characters of base32 in two groups (50 bits).
func recoveryCode() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := crypt.RandomSecret(10)
	out := make([]byte, 0, 11)
	for i, c := range b {
		if i == 5 {
			out = append(out, '-')
		}
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out)
}

func normalizeRecovery(s string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
}

// TOTPCode is the current code of a secret (for tests and tools that act
// as the authenticator app).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// SecondFactor checks a code from u's authenticator app, or one of u's
// recovery codes, throttled like SignIn per username — on a count of its
// own, which a correct password does not clear — and per address: it
// returns nil, ErrMFA, or a *ThrottledError.
func (a *Accounts) SecondFactor(ctx context.Context, u *User, code, addr string) error {
	if wait := a.throttle.begin(mfaKey(u.Username), addrKey(addr)); wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	var err error
	if len(normalizeRecovery(code)) == 10 {
		err = a.UseRecoveryCode(ctx, u, code)
	} else {
		err = a.CheckTOTP(ctx, u, code)
	}
	if err != nil {
		return ErrMFA
	}
	a.throttle.succeed(mfaKey(u.Username), addrKey(addr))
	return nil
}
