package auth

import (
	"bytes"
	"context"
	"errors"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// PasskeyUser is an account as github.com/go-webauthn/webauthn sees it:
// its id is the account id, its credentials the account's passkeys.
type PasskeyUser struct{ U *User }

// WebAuthnID implements webauthn.User.
func (p PasskeyUser) WebAuthnID() []byte { return []byte(p.U.ID) }

// WebAuthnName implements webauthn.User.
func (p PasskeyUser) WebAuthnName() string { return p.U.Username }

// WebAuthnDisplayName implements webauthn.User.
func (p PasskeyUser) WebAuthnDisplayName() string { return p.U.Username }

// WebAuthnCredentials implements webauthn.User.
func (p PasskeyUser) WebAuthnCredentials() []webauthn.Credential { return p.U.Passkeys }

var _ webauthn.User = PasskeyUser{}

// MaxPasskeys bounds an account's passkeys.
const MaxPasskeys = 10

// AddPasskey stores a passkey whose registration the caller verified
// (webauthn.FinishRegistration); verified says the sign-in passed the
// account's second factor (without it, only an account without a factor
// may get one — checked as stored, against concurrent enrolments). If the
// account has no recovery codes yet, it gets fresh ones, returned once.
// rec's audit record commits with the passkey.
func (a *Accounts) AddPasskey(ctx context.Context, u *User, cred *webauthn.Credential, verified bool, rec Record) ([]string, error) {
	var codes []string
	err := a.updateRecorded(ctx, u, func(u *User) error {
		if u.HasMFA() && !verified {
			return ErrMFA
		}
		if len(u.Passkeys) >= MaxPasskeys {
			return invalid("this account has the most passkeys it may have")
		}
		for _, p := range u.Passkeys {
			if bytes.Equal(p.ID, cred.ID) {
				return invalid("this passkey is registered already")
			}
		}
		u.Passkeys = append(u.Passkeys, *cred)
		u.TOTPPending = "" // an enrolment started with the app is over
		if len(u.Recovery) == 0 {
			codes = make([]string, RecoveryCodes)
			u.Recovery = make([][]byte, RecoveryCodes)
			for i := range codes {
				codes[i] = recoveryCode()
				u.Recovery[i] = crypt.HashToken([]byte(normalizeRecovery(codes[i])))
			}
		}
		return nil
	}, rec)
	return codes, err
}

// ErrPasskeyClone is returned when a passkey's signature counter went
// backwards: the authenticator may have been cloned. The passkey stops
// working.
var ErrPasskeyClone = errors.New("auth: the passkey's counter went backwards (a cloned authenticator?)")

// CheckPasskey runs verify — webauthn.FinishLogin for u — throttled like
// the other second factors, and stores the passkey's new signature
// counter. It returns nil, ErrMFA, ErrPasskeyClone or a *ThrottledError.
func (a *Accounts) CheckPasskey(ctx context.Context, u *User, addr string, verify func() (*webauthn.Credential, error)) error {
	if wait := a.throttle.begin(mfaKey(u.Username), addrKey(addr)); wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	cred, err := verify()
	if err != nil {
		return ErrMFA
	}
	for _, p := range u.Passkeys {
		if bytes.Equal(p.ID, cred.ID) && p.Authenticator.CloneWarning {
			return ErrPasskeyClone // marked before: refused for good
		}
	}
	if cred.Authenticator.CloneWarning {
		// The passkey stays, marked: it is refused from now on, and the
		// account keeps needing a second factor (its other passkeys, TOTP
		// or a recovery code), never falling back to the password alone.
		_ = a.update(ctx, u, func(u *User) error {
			for i := range u.Passkeys {
				if bytes.Equal(u.Passkeys[i].ID, cred.ID) {
					u.Passkeys[i].Authenticator.CloneWarning = true
				}
			}
			return nil
		})
		return ErrPasskeyClone
	}
	err = a.update(ctx, u, func(u *User) error {
		for i := range u.Passkeys {
			if bytes.Equal(u.Passkeys[i].ID, cred.ID) {
				if cred.Authenticator.SignCount != 0 && cred.Authenticator.SignCount <= u.Passkeys[i].Authenticator.SignCount {
					return ErrPasskeyClone // a concurrent use got there first
				}
				u.Passkeys[i].Authenticator = cred.Authenticator
				return nil
			}
		}
		return ErrMFA
	})
	if err != nil {
		return err
	}
	a.throttle.succeed(mfaKey(u.Username), addrKey(addr))
	return nil
}
