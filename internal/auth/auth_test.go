package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store"
)

type memStore struct {
	mu   sync.Mutex
	byID map[string]store.UserRecord
}

func (m *memStore) AddUser(_ context.Context, u store.UserRecord, _ ...[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.byID {
		if o.Username == u.Username {
			return store.ErrConflict
		}
	}
	u.Version = 1
	m.byID[u.ID] = u
	return nil
}

func (m *memStore) UpdateUser(_ context.Context, u store.UserRecord, _ ...[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.byID[u.ID]
	if !ok || o.Version != u.Version {
		return store.ErrConflict
	}
	u.Version++
	m.byID[u.ID] = u
	return nil
}

func (m *memStore) User(_ context.Context, id string) (store.UserRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.byID[id]
	if !ok {
		return u, store.ErrNotFound
	}
	return u, nil
}

func (m *memStore) Users(context.Context) ([]store.UserRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.UserRecord
	for _, u := range m.byID {
		out = append(out, u)
	}
	return out, nil
}

func (m *memStore) UserByName(_ context.Context, name string) (store.UserRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.byID {
		if u.Username == name {
			return u, nil
		}
	}
	return store.UserRecord{}, store.ErrNotFound
}

// boundSealer binds data to its purpose without encrypting (tests only).
type boundSealer struct{}

func (boundSealer) SealAuth(p string, b []byte) ([]byte, error) {
	return append([]byte(p+"\x00"), b...), nil
}

func (boundSealer) OpenAuth(p string, b []byte) ([]byte, error) {
	if !strings.HasPrefix(string(b), p+"\x00") {
		return nil, crypt.ErrOpen
	}
	return b[len(p)+1:], nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// cheap parameters keep the tests fast; the defaults are tested in crypt.
var cheap = crypt.PasswordParams{Memory: 64, Time: 1, Threads: 1}

func newAccounts(t *testing.T) (*Accounts, *memStore, *clock) {
	m := &memStore{byID: map[string]store.UserRecord{}}
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	return New(Config{Store: m, Sealer: boundSealer{}, Params: cheap, Now: c.now}), m, c
}

func TestPasswordRules(t *testing.T) {
	for pw, want := range map[string]error{
		"short pw":                     ErrPasswordShort,
		strings.Repeat("x", 129):       ErrPasswordLong,
		"123qweasdzxc":                 ErrPasswordCommon, // in the breached list
		"Password123456":               ErrPasswordCommon, // a common word with digits appended
		"!!!sunshine!!!":               ErrPasswordCommon,
		"aaaaaaaaaaaaaa":               ErrPasswordCommon, // repetitive
		"abcabcabcabcabc":              ErrPasswordCommon,
		"123456789012":                 ErrPasswordCommon, // sequential
		"zyxwvutsrqponm":               ErrPasswordCommon,
		"drwhoreturns-Bob2026":         nil,
		"correct horse battery staple": nil,
		"xalice-was-here-9":            ErrPasswordCommon, // contains the username
		"my hestia password":           ErrPasswordCommon,
		"ünïcödé pässwörd ok":          nil, // length counts characters, no composition rules
	} {
		if got := CheckPassword(pw, "alice"); !errors.Is(got, want) {
			t.Errorf("%.20q: %v, want %v", pw, got, want)
		}
	}
}

func TestCreateAndSignIn(t *testing.T) {
	a, m, _ := newAccounts(t)
	ctx := context.Background()
	u, otp, err := a.Create(ctx, NewUser{Username: "admin1", Roles: []string{"admin"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(otp) != 16 || !u.MustChange || !a.MFARequired(u) {
		t.Fatalf("one-time password %q, must change %v, MFA required %v", otp, u.MustChange, a.MFARequired(u))
	}
	if _, _, err := a.Create(ctx, NewUser{Username: "admin1", Roles: []string{"admin"}}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate username: %v", err)
	}
	if _, _, err := a.Create(ctx, NewUser{Username: "x", Roles: []string{"superuser"}}, nil); !errors.Is(err, ErrRole) {
		t.Fatalf("unknown role: %v", err)
	}
	if _, _, err := a.Create(ctx, NewUser{Username: "p", Roles: []string{"patient"}}, nil); err == nil {
		t.Fatal("a patient account without its Patient was created")
	}
	// The record is sealed and bound to its row.
	rec := m.byID[u.ID]
	if strings.Contains(string(rec.Data), otp) || !strings.HasPrefix(string(rec.Data), "user/"+u.ID) {
		t.Fatal("the account record is not sealed under its id")
	}
	got, err := a.SignIn(ctx, "admin1", otp, "10.0.0.1")
	if err != nil || got.ID != u.ID {
		t.Fatalf("sign-in with the one-time password: %v", err)
	}
	if err := a.ChangePassword(ctx, got, otp, "short", nil); !errors.Is(err, ErrPasswordShort) {
		t.Fatalf("weak new password: %v", err)
	}
	if err := a.ChangePassword(ctx, got, "wrong password!", "a brand new passphrase", nil); !errors.Is(err, ErrPassword) {
		t.Fatalf("change with a wrong current password: %v", err)
	}
	if err := a.ChangePassword(ctx, got, otp, "a brand new passphrase", nil); err != nil {
		t.Fatal(err)
	}
	if got.MustChange {
		t.Fatal("MustChange still set")
	}
	if _, err := a.SignIn(ctx, "admin1", otp, "10.0.0.1"); !errors.Is(err, ErrSignIn) {
		t.Fatalf("old password: %v", err)
	}
	if _, err := a.SignIn(ctx, "admin1", "a brand new passphrase", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// A record swapped into another account's row does not open.
	v, _, err := a.Create(ctx, NewUser{Username: "victim", Roles: []string{"nurse"}, Password: "a long nurse passphrase"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	r := m.byID[v.ID]
	r.Data = m.byID[u.ID].Data
	m.byID[v.ID] = r
	m.mu.Unlock()
	if u, err := a.SignIn(ctx, "victim", "a brand new passphrase", "10.0.0.9"); err == nil || u != nil {
		t.Fatal("a swapped record signed in")
	}
}

// Unknown users and wrong passwords fail alike; failures slow sign-in
// down per username and per address whether the account exists or not,
// and lock after ten; a success clears the count; raised hashing
// parameters re-hash at sign-in.
func TestThrottling(t *testing.T) {
	a, _, clk := newAccounts(t)
	ctx := context.Background()
	if _, _, err := a.Create(ctx, NewUser{Username: "nurse1", Roles: []string{"nurse"}, Password: "nurse one's passphrase"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nurse1", "nobody"} {
		addr := "192.0.2." + name
		for i := range freeFailures {
			if _, err := a.SignIn(ctx, name, "wrong guess number", addr); !errors.Is(err, ErrSignIn) {
				t.Fatalf("%s attempt %d: %v", name, i, err)
			}
		}
		var te *ThrottledError
		if _, err := a.SignIn(ctx, name, "nurse one's passphrase", addr); !errors.As(err, &te) || te.RetryAfter != time.Second {
			t.Fatalf("%s after %d failures: %v", name, freeFailures, err)
		}
		// From another address too (per username), and for another
		// username from this address (per address).
		if _, err := a.SignIn(ctx, name, "x", "198.51.100.1"); !errors.As(err, &te) {
			t.Fatalf("%s from another address: %v", name, err)
		}
		if _, err := a.SignIn(ctx, "someone-else", "x", addr); !errors.As(err, &te) {
			t.Fatalf("another username from %s: %v", addr, err)
		}
		clk.add(time.Second)
		if _, err := a.SignIn(ctx, name, "wrong again", addr); !errors.Is(err, ErrSignIn) {
			t.Fatalf("%s after waiting: %v", name, err)
		}
		if _, err := a.SignIn(ctx, name, "wrong again", addr); !errors.As(err, &te) || te.RetryAfter != 2*time.Second {
			t.Fatalf("%s: back-off doubles: %v", name, err)
		}
		for n := freeFailures + 1; n < lockAfter; n++ {
			clk.add(maxBackoff)
			a.SignIn(ctx, name, "wrong again", addr)
		}
		if _, err := a.SignIn(ctx, name, "x", addr); !errors.As(err, &te) || te.RetryAfter != lockFor {
			t.Fatalf("%s locked: %v", name, err)
		}
		clk.add(lockFor)
	}
	if u, err := a.SignIn(ctx, "nurse1", "nurse one's passphrase", "203.0.113.5"); err != nil || u == nil {
		t.Fatalf("after the lock: %v", err)
	}
	if _, err := a.SignIn(ctx, "nurse1", "wrong", "203.0.113.5"); !errors.Is(err, ErrSignIn) {
		t.Fatalf("a success clears the count: %v", err)
	}

	// Raised parameters: the next sign-in replaces the hash.
	u, _ := a.ByName(ctx, "nurse1")
	a.cfg.Params = crypt.PasswordParams{Memory: 128, Time: 2, Threads: 1}
	clk.add(lockFor)
	if _, err := a.SignIn(ctx, "nurse1", "nurse one's passphrase", "203.0.113.6"); err != nil {
		t.Fatal(err)
	}
	v, _ := a.ByName(ctx, "nurse1")
	if v.PasswordHash == u.PasswordHash || !strings.Contains(v.PasswordHash, "m=128,t=2") {
		t.Fatalf("hash not raised: %s", v.PasswordHash)
	}
}

func TestTOTPAndRecoveryCodes(t *testing.T) {
	a, _, clk := newAccounts(t)
	ctx := context.Background()
	u, _, err := a.Create(ctx, NewUser{Username: "doc", Roles: []string{"clinician"}, Password: "a long clinician passphrase"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, uri, err := a.BeginTOTP(ctx, u, "Hestia")
	if err != nil || !strings.HasPrefix(uri, "otpauth://totp/Hestia:doc?") {
		t.Fatalf("begin: %q %v", uri, err)
	}
	if u.HasMFA() {
		t.Fatal("MFA counts before it is confirmed")
	}
	if _, err := a.ConfirmTOTP(ctx, u, "000000", "192.0.2.50", nil); !errors.Is(err, ErrMFA) {
		t.Fatalf("confirm with a wrong code: %v", err)
	}
	code, _ := TOTPCode(secret, clk.now())
	codes, err := a.ConfirmTOTP(ctx, u, code, "192.0.2.50", nil)
	if err != nil || len(codes) != RecoveryCodes || !u.HasMFA() {
		t.Fatalf("confirm: %v %v", codes, err)
	}
	// The code that confirmed cannot sign in (replay), nor can a code of
	// an earlier step; the next step's can, once.
	if err := a.CheckTOTP(ctx, u, code); !errors.Is(err, ErrMFA) {
		t.Fatalf("replayed code: %v", err)
	}
	clk.add(30 * time.Second)
	next, _ := TOTPCode(secret, clk.now())
	if err := a.CheckTOTP(ctx, u, next); err != nil {
		t.Fatalf("next code: %v", err)
	}
	if err := a.CheckTOTP(ctx, u, next); !errors.Is(err, ErrMFA) {
		t.Fatalf("next code twice: %v", err)
	}
	clk.add(30 * time.Second)
	old, _ := TOTPCode(secret, clk.now().Add(-90*time.Second))
	if err := a.CheckTOTP(ctx, u, old); !errors.Is(err, ErrMFA) {
		t.Fatalf("a code of an old step: %v", err)
	}
	// A code one step ahead (clock skew) is accepted.
	ahead, _ := TOTPCode(secret, clk.now().Add(30*time.Second))
	if err := a.CheckTOTP(ctx, u, ahead); err != nil {
		t.Fatalf("a code one step ahead: %v", err)
	}
	// The second factor has a failure count of its own, which a correct
	// password does not clear: three wrong codes, a sign-in, and the next
	// code waits.
	for range freeFailures {
		if err := a.SecondFactor(ctx, u, "000000", "198.51.100.7"); !errors.Is(err, ErrMFA) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	if _, err := a.SignIn(ctx, "doc", "a long clinician passphrase", "198.51.100.8"); err != nil {
		t.Fatal(err)
	}
	var te *ThrottledError
	if err := a.SecondFactor(ctx, u, "000000", "198.51.100.8"); !errors.As(err, &te) {
		t.Fatalf("after three wrong codes and a correct password: %v", err)
	}
	clk.add(90 * time.Second) // past the wait, and past the steps already used
	good, _ := TOTPCode(secret, clk.now())
	if err := a.SecondFactor(ctx, u, good, "198.51.100.8"); err != nil {
		t.Fatalf("a right code after the wait: %v", err)
	}

	// Recovery codes: each once, in any case and grouping.
	if err := a.UseRecoveryCode(ctx, u, strings.ToUpper(strings.ReplaceAll(codes[3], "-", ""))); err != nil {
		t.Fatal(err)
	}
	if err := a.UseRecoveryCode(ctx, u, codes[3]); !errors.Is(err, ErrMFA) {
		t.Fatalf("a recovery code twice: %v", err)
	}
	if err := a.UseRecoveryCode(ctx, u, "aaaaa-bbbbb"); !errors.Is(err, ErrMFA) {
		t.Fatalf("a made-up recovery code: %v", err)
	}
	if len(u.Recovery) != RecoveryCodes-1 {
		t.Fatalf("%d recovery codes left", len(u.Recovery))
	}
}

// MFA is required for every staff role unless the configuration exempts
// the role; patients choose.
func TestMFARequired(t *testing.T) {
	a, _, _ := newAccounts(t)
	a.cfg.NoMFARoles = []string{"billing"}
	for roles, want := range map[string]bool{"clinician": true, "billing": false, "billing,nurse": true, "admin": true, "patient": false} {
		u := &User{Roles: strings.Split(roles, ",")}
		if got := a.MFARequired(u); got != want {
			t.Errorf("roles %s: MFA required %v, want %v", roles, got, want)
		}
	}
	if !a.MFARequired(&User{Roles: []string{"patient"}, TOTPSecret: "X"}) {
		t.Error("a patient who enrolled is not asked for the second factor")
	}
}

// Accounts of an external provider: created at the first sign-in, roles
// applied at each (a change voids what the old roles were issued), and
// disabled when the provider's claim maps to no role any more; Valid
// refuses tokens whose roles are not the account's.
func TestExternalAccounts(t *testing.T) {
	a, _, clk := newAccounts(t)
	ctx := context.Background()
	u, changed, err := a.External(ctx, "https://idp.example", "sub-1", []string{"nurse"}, nil)
	if err != nil || !changed || u.Username != "ext:sub-1" {
		t.Fatalf("first sign-in: %+v %v %v", u, changed, err)
	}
	issued := clk.now()
	if !a.Valid(ctx, u.ID, issued, []string{"nurse"}) || a.Valid(ctx, u.ID, issued, []string{"clinician"}) {
		t.Fatal("Valid does not compare roles")
	}
	if _, changed, _ := a.External(ctx, "https://idp.example", "sub-1", []string{"nurse"}, nil); changed {
		t.Fatal("same roles reported as a change")
	}
	clk.add(2 * time.Second)
	u, changed, _ = a.External(ctx, "https://idp.example", "sub-1", []string{"clinician"}, nil)
	if !changed || strings.Join(u.Roles, ",") != "clinician" {
		t.Fatalf("role change: %v %v", changed, u.Roles)
	}
	if a.Valid(ctx, u.ID, issued, []string{"clinician"}) {
		t.Fatal("a grant from before the role change is still valid")
	}
	if _, _, err := a.External(ctx, "https://other-idp.example", "sub-1", []string{"nurse"}, nil); err == nil {
		t.Fatal("another provider's subject took over the account")
	}
	if id, err := a.DisableExternal(ctx, "https://idp.example", "sub-1", nil); err != nil || id != u.ID {
		t.Fatalf("disable: %q %v", id, err)
	}
	if a.Valid(ctx, u.ID, clk.now().Add(time.Hour), []string{"clinician"}) {
		t.Fatal("a disabled account is valid")
	}
	if _, _, err := a.External(ctx, "https://idp.example", "sub-1", []string{"nurse"}, nil); !errors.Is(err, ErrSignIn) {
		t.Fatalf("sign-in of a disabled external account: %v", err)
	}
}

// A TOTP enrolment confirms the secret its code was checked against, and
// only on an account that still has no factor.
func TestConfirmTOTPRechecks(t *testing.T) {
	a, _, clk := newAccounts(t)
	ctx := context.Background()
	u, _, _ := a.Create(ctx, NewUser{Username: "nurse.c", Roles: []string{"nurse"}, Password: "a long nurse passphrase"}, nil)
	s1, _, _ := a.BeginTOTP(ctx, u, "Hestia")
	code, _ := TOTPCode(s1, clk.now())
	other := *u // another session of the account begins its own enrolment
	if _, _, err := a.BeginTOTP(ctx, &other, "Hestia"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ConfirmTOTP(ctx, u, code, "192.0.2.9", nil); !errors.Is(err, ErrMFA) {
		t.Fatalf("confirmed S1 while S2 is pending: %v", err)
	}
	s2 := other.TOTPPending
	code2, _ := TOTPCode(s2, clk.now())
	if _, err := a.ConfirmTOTP(ctx, &other, code2, "192.0.2.9", nil); err != nil {
		t.Fatal(err)
	}
	// The account has a factor now: no new enrolment begins.
	if _, _, err := a.BeginTOTP(ctx, &other, "Hestia"); !errors.Is(err, ErrMFA) {
		t.Fatalf("an enrolment began on an account with a factor: %v", err)
	}
}
