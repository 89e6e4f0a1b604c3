// Package auth holds the accounts of people (staff and patients):
// passwords hashed with argon2id, multi-factor authentication (TOTP with
// replay protection, single-use recovery codes), throttling and lockout.
// internal/web signs people in with it; internal/oauth issues their tokens.
//
// Invariants:
//   - An account record is stored sealed with the auth key (crypt.SealAuth);
//     only the username is in the clear, to find it at sign-in.
//   - Sign-in failures look alike: an unknown user and a wrong password give
//     the same error and take as long (an unknown user costs one password
//     hash too); throttling keys on the name whether or not an account
//     has it, so its answers (given at once) say nothing either.
//   - At most max(2, NumCPU) password checks run at once (each takes
//     19 MiB); beyond that, sign-in answers ErrBusy.
//   - A TOTP code is accepted once: codes of time steps at or before the
//     last one accepted are refused. A recovery code works once.
//   - Updates are compare-and-swap on the record's version: concurrent
//     sign-ins never lose a failure count or reuse a code.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store"
)

// Roles of the default policy. Staff roles need MFA by default.
var (
	StaffRoles = []string{"admin", "clinician", "nurse", "registration", "billing", "researcher", "auditor"}
	// PatientRole is the role of a patient's own account.
	PatientRole = "patient"
)

// User is an account.
type User struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
	// Patient is the Patient id of a patient's account; Practitioner the
	// Practitioner id of a clinician's (both optional).
	Patient      string `json:"patient,omitempty"`
	Practitioner string `json:"practitioner,omitempty"`
	// Organization is the Organization id of the user's employer (for
	// organization-wide rules and consents naming an organization).
	Organization string   `json:"organization,omitempty"`
	PasswordHash string   `json:"password_hash"`
	MustChange   bool     `json:"must_change,omitempty"` // a one-time password: change at next sign-in
	TOTPSecret   string   `json:"totp_secret,omitempty"` // base32; confirmed once TOTPStep > 0 or TOTPConfirmed
	TOTPPending  string   `json:"totp_pending,omitempty"`
	TOTPLastStep int64    `json:"totp_last_step,omitempty"`
	Recovery     [][]byte `json:"recovery,omitempty"` // hashes of unused recovery codes
	// Passkeys are the account's WebAuthn credentials (security keys,
	// platform authenticators): public keys and signature counters.
	Passkeys []webauthn.Credential `json:"passkeys,omitempty"`
	Disabled bool                  `json:"disabled,omitempty"`
	Created  time.Time             `json:"created"`
	// NotBefore voids the sessions and tokens of the account from before
	// it: set when the account is disabled or its password reset.
	NotBefore time.Time `json:"not_before,omitzero"`
	// ExternalIssuer and ExternalSubject name the identity at an external
	// OpenID Connect provider of an account that signs in there (it has no
	// usable password).
	ExternalIssuer  string `json:"ext_iss,omitempty"`
	ExternalSubject string `json:"ext_sub,omitempty"`

	version int64
}

// HasMFA reports whether the user has a confirmed second factor.
func (u *User) HasMFA() bool { return u.TOTPSecret != "" || len(u.Passkeys) > 0 }

// Store keeps accounts; internal/store/sqlite implements it.
type Store interface {
	// AddUser and UpdateUser append records (sealed audit records) to the
	// audit log in the same transaction as the account.
	AddUser(ctx context.Context, u store.UserRecord, records ...[]byte) error
	UpdateUser(ctx context.Context, u store.UserRecord, records ...[]byte) error
	User(ctx context.Context, id string) (store.UserRecord, error)
	UserByName(ctx context.Context, username string) (store.UserRecord, error)
	Users(ctx context.Context) ([]store.UserRecord, error)
}

// Sealer seals account records; internal/crypt implements it.
type Sealer interface {
	SealAuth(purpose string, secret []byte) ([]byte, error)
	OpenAuth(purpose string, sealed []byte) ([]byte, error)
}

// Config configures the accounts.
type Config struct {
	Store  Store
	Sealer Sealer
	// Params are argon2id's costs for new hashes (default
	// crypt.DefaultPasswordParams); older hashes are replaced at sign-in.
	Params crypt.PasswordParams
	// NoMFARoles are staff roles that may sign in without MFA (default
	// none: every staff role needs it). Patients choose.
	NoMFARoles []string
	Now        func() time.Time
}

// Record makes the audit record of an account change, given the account
// as it will be stored: the record commits with the change, or neither
// does (an administrator's action is never done unrecorded). Nil records
// nothing here.
type Record func(u *User) ([]byte, error)

func (r Record) make(u *User) ([][]byte, error) {
	if r == nil {
		return nil, nil
	}
	rec, err := r(u)
	if err != nil || rec == nil {
		return nil, err
	}
	return [][]byte{rec}, nil
}

// Accounts manages accounts and signs people in.
type Accounts struct {
	cfg      Config
	throttle *throttle
	dummy    string // a hash checked for unknown users, so they take as long
	// hashing bounds the password checks running at once: each takes
	// m = 19 MiB and a core for ~20 ms.
	hashing chan struct{}
}

// ErrBusy is returned when too many password checks are running: the
// client should retry shortly.
var ErrBusy = errors.New("too many sign-ins at once; try again in a moment")

// hashSlot waits (briefly) for a password-check slot.
func (a *Accounts) hashSlot(ctx context.Context) (func(), error) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case a.hashing <- struct{}{}:
		return func() { <-a.hashing }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// New returns the accounts of a store.
func New(cfg Config) *Accounts {
	if cfg.Params == (crypt.PasswordParams{}) {
		cfg.Params = crypt.DefaultPasswordParams
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Accounts{cfg: cfg, throttle: newThrottle(cfg.Now), dummy: crypt.HashPassword(crypt.RandomToken(16), cfg.Params),
		hashing: make(chan struct{}, max(2, runtime.NumCPU()))}
}

// Errors of the accounts. ErrSignIn is the one answer to every failed
// sign-in; ErrThrottled says to wait (as long as RetryAfter says).
var (
	ErrSignIn     = errors.New("the username or password is wrong, or the account cannot sign in")
	ErrMFA        = errors.New("the code is wrong or was already used")
	ErrExists     = errors.New("the username is taken")
	ErrNoUser     = errors.New("no such user")
	ErrRole       = errors.New("unknown role")
	ErrPassword   = errors.New("the current password is wrong")
	errConcurrent = errors.New("auth: the account changed meanwhile")
)

// invalidError is a request the rules refuse (its message says why).
type invalidError string

func (e invalidError) Error() string { return string(e) }

func invalid(msg string) error { return invalidError(msg) }

// IsInvalid reports whether err is a refusal of the account rules (a bad
// username, role or password), whose message can be shown as is.
func IsInvalid(err error) bool {
	var ie invalidError
	return errors.As(err, &ie) || errors.Is(err, ErrRole) ||
		errors.Is(err, ErrPasswordShort) || errors.Is(err, ErrPasswordLong) || errors.Is(err, ErrPasswordCommon)
}

// ThrottledError is returned while sign-in is slowed down for an account
// or a client address.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; wait %s", e.RetryAfter.Round(time.Second))
}

// NewUser describes an account to create.
type NewUser struct {
	Username     string
	Roles        []string
	Patient      string
	Practitioner string
	Organization string
	// Password, if empty, is generated as a one-time password that must
	// be changed at the first sign-in.
	Password string
}

// validID reports whether s is a FHIR logical id.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Create adds an account and returns it with its one-time password (when
// none was given).
func (a *Accounts) Create(ctx context.Context, nu NewUser, rec Record) (*User, string, error) {
	name := strings.TrimSpace(nu.Username)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, " \t\r\n:") {
		return nil, "", invalid("a username is 1 to 100 characters without spaces or colons")
	}
	if len(nu.Roles) == 0 {
		return nil, "", invalid("a user needs a role")
	}
	for _, r := range nu.Roles {
		if r != PatientRole && !slices.Contains(StaffRoles, r) {
			return nil, "", fmt.Errorf("%w %q (roles: %s, %s)", ErrRole, r, strings.Join(StaffRoles, ", "), PatientRole)
		}
	}
	if slices.Contains(nu.Roles, PatientRole) && (len(nu.Roles) > 1 || nu.Patient == "") {
		return nil, "", invalid("a patient account has the patient role alone and names its Patient (--patient)")
	}
	for _, id := range []string{nu.Patient, nu.Practitioner, nu.Organization} {
		if id != "" && !validID(id) {
			return nil, "", invalid("a Patient, Practitioner or Organization id is 1 to 64 letters, digits, '-' and '.'")
		}
	}
	pw, oneTime := nu.Password, ""
	if pw == "" {
		pw = generatePassword()
		oneTime = pw
	} else if err := CheckPassword(pw, name); err != nil {
		return nil, "", err
	}
	u := &User{ID: uuid.NewString(), Username: name, Roles: nu.Roles, Patient: nu.Patient, Practitioner: nu.Practitioner, Organization: nu.Organization,
		PasswordHash: crypt.HashPassword(pw, a.cfg.Params), MustChange: oneTime != "", Created: a.cfg.Now().UTC()}
	data, err := a.seal(u)
	if err != nil {
		return nil, "", err
	}
	records, err := rec.make(u)
	if err != nil {
		return nil, "", err
	}
	if err := a.cfg.Store.AddUser(ctx, store.UserRecord{ID: u.ID, Username: u.Username, Data: data}, records...); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", ErrExists
		}
		return nil, "", err
	}
	u.version = 1
	return u, oneTime, nil
}

// generatePassword is a one-time password: 16 random characters from an
// alphabet without look-alikes (about 90 bits).
func generatePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := crypt.RandomSecret(16)
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(out)
}

// MFARequired reports whether u must use a second factor.
func (a *Accounts) MFARequired(u *User) bool {
	for _, r := range u.Roles {
		if r != PatientRole && !slices.Contains(a.cfg.NoMFARoles, r) {
			return true
		}
	}
	return u.HasMFA()
}

// SignIn checks a username and password from a client address. It
// returns the user, or ErrSignIn, or a *ThrottledError.
func (a *Accounts) SignIn(ctx context.Context, username, password, addr string) (*User, error) {
	username = strings.TrimSpace(username)
	// The slot first: an attempt refused as busy is not counted.
	release, err := a.hashSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if wait := a.throttle.begin(userKey(username), addrKey(addr)); wait > 0 {
		// Answered at once: the throttle keys on any name, existing or
		// not, so the wait says nothing of the account.
		return nil, &ThrottledError{RetryAfter: wait}
	}
	u, err := a.byName(ctx, username)
	if err != nil && !errors.Is(err, ErrNoUser) {
		return nil, err
	}
	hash := a.dummy
	if u != nil {
		hash = u.PasswordHash
	}
	ok, stale, herr := crypt.CheckPassword(hash, password, a.cfg.Params)
	if u == nil || !ok || herr != nil || u.Disabled || u.ExternalIssuer != "" {
		return nil, ErrSignIn
	}
	a.throttle.succeed(userKey(username), addrKey(addr))
	if stale {
		// Raised parameters: re-hash now that the password is known.
		_ = a.update(ctx, u, func(u *User) error { u.PasswordHash = crypt.HashPassword(password, a.cfg.Params); return nil })
	}
	return u, nil
}

// External returns the account of a person signed in at an external
// OpenID Connect provider, creating it on the first sign-in ("ext:" and
// the subject as username; no usable password) and setting its roles to
// roles (the provider's mapping decides). ErrSignIn if the account is
// disabled or belongs to another provider.
func (a *Accounts) External(ctx context.Context, issuer, subject string, roles []string, rec Record) (u *User, changed bool, err error) {
	name := externalName(issuer, subject)
	u, err = a.byName(ctx, name)
	if errors.Is(err, ErrNoUser) {
		u = &User{ID: uuid.NewString(), Username: name, Roles: roles, ExternalIssuer: issuer, ExternalSubject: subject,
			PasswordHash: crypt.HashPassword(crypt.RandomToken(32), a.cfg.Params), Created: a.cfg.Now().UTC()}
		data, err := a.seal(u)
		if err != nil {
			return nil, false, err
		}
		records, err := rec.make(u)
		if err != nil {
			return nil, false, err
		}
		if err := a.cfg.Store.AddUser(ctx, store.UserRecord{ID: u.ID, Username: u.Username, Data: data}, records...); err != nil {
			return nil, false, err
		}
		u.version = 1
		return u, true, nil
	} else if err != nil {
		return nil, false, err
	}
	if u.Disabled || u.ExternalIssuer != issuer || u.ExternalSubject != subject {
		return nil, false, ErrSignIn
	}
	if !sameSet(u.Roles, roles) {
		// What was issued under the old roles is void (NotBefore; the
		// caller revokes the grants).
		if err := a.updateRecorded(ctx, u, func(u *User) error { u.Roles, u.NotBefore = roles, a.cfg.Now(); return nil }, rec); err != nil {
			return nil, false, err
		}
		return u, true, nil
	}
	return u, false, nil
}

// DisableExternal disables the account of an external identity that no
// longer maps to any role, if there is one, and returns its id ("" if
// none).
func (a *Accounts) DisableExternal(ctx context.Context, issuer, subject string, rec Record) (string, error) {
	u, err := a.byName(ctx, externalName(issuer, subject))
	if errors.Is(err, ErrNoUser) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if u.ExternalIssuer != issuer || u.ExternalSubject != subject || u.Disabled {
		return u.ID, nil
	}
	return u.ID, a.SetDisabled(ctx, u, true, rec)
}

func externalName(issuer, subject string) string {
	if len(subject) > 90 || strings.ContainsAny(subject, " \t\r\n") {
		d := crypt.Digest(issuer + "\x00" + subject)
		return fmt.Sprintf("ext:%x", d[:12])
	}
	return "ext:" + subject
}

// ChangePassword sets a new password after checking the current one (rec's
// audit record in the same transaction); it clears MustChange.
func (a *Accounts) ChangePassword(ctx context.Context, u *User, current, next string, rec Record) error {
	release, err := a.hashSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	ok, _, err := crypt.CheckPassword(u.PasswordHash, current, a.cfg.Params)
	if err != nil || !ok {
		return ErrPassword
	}
	if current == next {
		return errors.New("the new password must differ from the current one")
	}
	if err := CheckPassword(next, u.Username); err != nil {
		return err
	}
	return a.updateRecorded(ctx, u, func(u *User) error {
		u.PasswordHash, u.MustChange = crypt.HashPassword(next, a.cfg.Params), false
		return nil
	}, rec)
}

// ResetPassword gives an account a new one-time password (an
// administrator's action) and returns it.
func (a *Accounts) ResetPassword(ctx context.Context, u *User, rec Record) (string, error) {
	pw := generatePassword()
	err := a.updateRecorded(ctx, u, func(u *User) error {
		u.PasswordHash, u.MustChange, u.NotBefore = crypt.HashPassword(pw, a.cfg.Params), true, a.cfg.Now()
		return nil
	}, rec)
	return pw, err
}

// List returns every account, by username.
func (a *Accounts) List(ctx context.Context) ([]*User, error) {
	recs, err := a.cfg.Store.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*User, 0, len(recs))
	for _, r := range recs {
		u, err := a.open(r)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// SetDisabled disables (or enables again) an account: a disabled account
// cannot sign in, and its sign-in sessions end at their next request.
func (a *Accounts) SetDisabled(ctx context.Context, u *User, disabled bool, rec Record) error {
	return a.updateRecorded(ctx, u, func(u *User) error {
		u.Disabled = disabled
		if disabled {
			u.NotBefore = a.cfg.Now()
		}
		return nil
	}, rec)
}

// Valid reports whether what was issued to the account at issued may
// still be used: the account exists, is enabled, was neither disabled nor
// had its password reset or roles changed since, and has exactly roles (as
// the token says; a role change takes effect at once).
func (a *Accounts) Valid(ctx context.Context, id string, issued time.Time, roles []string) bool {
	u, err := a.Get(ctx, id)
	if err != nil || u.Disabled {
		return false
	}
	if roles != nil && !sameSet(roles, u.Roles) {
		return false
	}
	// In whole seconds (tokens carry seconds): what was issued in the
	// second of the cut-off is void too.
	return u.NotBefore.IsZero() || issued.Unix() > u.NotBefore.Unix()
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Get returns an account by id.
func (a *Accounts) Get(ctx context.Context, id string) (*User, error) {
	rec, err := a.cfg.Store.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoUser
	} else if err != nil {
		return nil, err
	}
	return a.open(rec)
}

func (a *Accounts) byName(ctx context.Context, username string) (*User, error) {
	rec, err := a.cfg.Store.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoUser
	} else if err != nil {
		return nil, err
	}
	return a.open(rec)
}

// ByName returns an account by username.
func (a *Accounts) ByName(ctx context.Context, username string) (*User, error) {
	return a.byName(ctx, username)
}

func (a *Accounts) open(rec store.UserRecord) (*User, error) {
	data, err := a.cfg.Sealer.OpenAuth("user/"+rec.ID, rec.Data)
	if err != nil {
		return nil, fmt.Errorf("auth: open account %s: %w", rec.ID, err)
	}
	u := new(User)
	if err := json.Unmarshal(data, u); err != nil {
		return nil, fmt.Errorf("auth: decode account %s: %w", rec.ID, err)
	}
	if u.ID != rec.ID || u.Username != rec.Username {
		return nil, fmt.Errorf("auth: account %s does not match its row", rec.ID)
	}
	u.version = rec.Version
	return u, nil
}

func (a *Accounts) seal(u *User) ([]byte, error) {
	data, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("auth: encode account: %w", err)
	}
	// The purpose binds the record to its account id: a record copied to
	// another row does not open.
	return a.cfg.Sealer.SealAuth("user/"+u.ID, data)
}

// update applies change to the stored account (compare-and-swap, retried
// on a concurrent update) and refreshes u.
func (a *Accounts) update(ctx context.Context, u *User, change func(*User) error) error {
	return a.updateRecorded(ctx, u, change, nil)
}

// updateRecorded is update with rec's audit record in the same
// transaction.
func (a *Accounts) updateRecorded(ctx context.Context, u *User, change func(*User) error, rec Record) error {
	for range 5 {
		cur, err := a.Get(ctx, u.ID)
		if err != nil {
			return err
		}
		if err := change(cur); err != nil {
			return err
		}
		data, err := a.seal(cur)
		if err != nil {
			return err
		}
		records, err := rec.make(cur)
		if err != nil {
			return err
		}
		err = a.cfg.Store.UpdateUser(ctx, store.UserRecord{ID: cur.ID, Username: cur.Username, Version: cur.version, Data: data}, records...)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		cur.version++
		*u = *cur
		return nil
	}
	return errConcurrent
}
