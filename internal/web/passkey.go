package web

import (
	_ "embed"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/fault"
)

// Passkeys (WebAuthn, github.com/go-webauthn/webauthn): a second factor
// besides TOTP. The relying party is the server's base URL: its host is
// the RP ID, its origin the only one accepted. The ceremonies' challenges
// wait in the server-side session, one at a time.
//
//	POST /signin/passkey/register/begin   options for navigator.credentials.create
//	POST /signin/passkey/register/finish  the new credential → {"next"}
//	POST /signin/passkey/login/begin      options for navigator.credentials.get
//	POST /signin/passkey/login/finish     the assertion → {"next"}
//	GET  /signin/passkey.js               the page script
const passkeyPath = "/signin/passkey"

//go:embed static/passkey.js
var passkeyJS []byte

// scriptCSP is the Content-Security-Policy of the pages with the passkey
// script: their own script and calls, nothing else.
const scriptCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (h *Handler) passkeyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+passkeyPath+".js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(passkeyJS)
	})
	mux.HandleFunc("POST "+passkeyPath+"/register/begin", h.locked(h.passkeyRegisterBegin))
	mux.HandleFunc("POST "+passkeyPath+"/register/finish", h.locked(h.passkeyRegisterFinish))
	mux.HandleFunc("POST "+passkeyPath+"/login/begin", h.locked(h.passkeyLoginBegin))
	mux.HandleFunc("POST "+passkeyPath+"/login/finish", h.locked(h.passkeyLoginFinish))
}

// relyingParty is the WebAuthn relying party of the server's base URL.
func (h *Handler) relyingParty() (*webauthn.WebAuthn, error) {
	u, err := url.Parse(h.cfg.OAuth.Issuer())
	if err != nil || u.Host == "" {
		return nil, errors.New("web: no base URL for passkeys")
	}
	if net.ParseIP(u.Hostname()) != nil {
		// A relying party is a domain: an address cannot be one.
		return nil, errors.New("web: passkeys need a base URL with a host name (--base-url)")
	}
	return webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: h.cfg.Issuer, RPOrigins: []string{u.Scheme + "://" + u.Host}})
}

// passkeySession is the pending sign-in of a passkey call: the session,
// with the CSRF token of the X-CSRF-Token header, and its account.
func (h *Handler) passkeySession(w http.ResponseWriter, r *http.Request) (*session, *auth.User, bool) {
	se := h.session(r)
	if se == nil || se.userID == "" || !crypt.TokenMatches(crypt.HashToken([]byte(se.csrf)), []byte(r.Header.Get("X-CSRF-Token"))) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the page expired; reload it"})
		return nil, nil, false
	}
	u, err := h.cfg.Accounts.Get(r.Context(), se.userID)
	if err != nil || u.Disabled || se.created.Before(u.NotBefore) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "this sign-in ended; start again"})
		return nil, nil, false
	}
	return se, u, true
}

func (h *Handler) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.passkeySession(w, r)
	if !ok {
		return
	}
	// Only during the enrolment the role requires or after the second
	// factor: a password alone must not add a factor.
	if !h.mayEnrol(se, u) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "use your second factor first"})
		return
	}
	rp, err := h.relyingParty()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "passkeys are not available"})
		return
	}
	opts, sd, err := rp.BeginRegistration(auth.PasskeyUser{U: u},
		webauthn.WithExclusions(webauthn.Credentials(u.Passkeys).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred}))
	if err != nil {
		h.cfg.Logger.Error("passkey registration", slog.String("error", err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "passkeys are not available"})
		return
	}
	se.ceremony, se.ceremonyKind = sd, "register"
	writeJSON(w, http.StatusOK, opts)
}

// takeCeremony returns (and forgets: one answer per challenge) the
// session's passkey ceremony of kind, with the relying party.
func (h *Handler) takeCeremony(se *session, kind string) (*webauthn.SessionData, *webauthn.WebAuthn, bool) {
	sd, k := se.ceremony, se.ceremonyKind
	se.ceremony, se.ceremonyKind = nil, ""
	rp, err := h.relyingParty()
	return sd, rp, sd != nil && k == kind && err == nil
}

func (h *Handler) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.passkeySession(w, r)
	if !ok {
		return
	}
	sd, rp, ok := h.takeCeremony(se, "register")
	if !ok || !h.mayEnrol(se, u) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "start the registration again"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	cred, err := rp.FinishRegistration(auth.PasskeyUser{U: u}, *sd, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the passkey could not be verified"})
		return
	}
	var codes []string
	err = h.recorded(r, access.MFAEnrolment, u, "passkey", func(rec auth.Record) (err error) {
		codes, err = h.cfg.Accounts.AddPasskey(r.Context(), u, cred, se.mfaDone, rec)
		return err
	})
	if fault.KindOf(err) == fault.Unavailable {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the audit log is unavailable"})
		return
	}
	if err != nil {
		msg := "the passkey could not be stored"
		if auth.IsInvalid(err) {
			msg = err.Error()
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
		return
	}
	se.mfaDone = true
	se.amr = append(se.amr, "hwk", "mfa")
	next := EnrolPath // continues the sign-in
	if len(codes) > 0 {
		se.recovery, next = codes, RecoveryPath
	}
	writeJSON(w, http.StatusOK, map[string]string{"next": next})
}

func (h *Handler) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.passkeySession(w, r)
	if !ok {
		return
	}
	rp, err := h.relyingParty()
	if err != nil || len(u.Passkeys) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "this account has no passkey"})
		return
	}
	opts, sd, err := rp.BeginLogin(auth.PasskeyUser{U: u})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "this account has no passkey"})
		return
	}
	se.ceremony, se.ceremonyKind = sd, "login"
	writeJSON(w, http.StatusOK, opts)
}

func (h *Handler) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.passkeySession(w, r)
	if !ok {
		return
	}
	sd, rp, ok := h.takeCeremony(se, "login")
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "start again"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	err := h.cfg.Accounts.CheckPasskey(r.Context(), u, addr(r), func() (*webauthn.Credential, error) {
		return rp.FinishLogin(auth.PasskeyUser{U: u}, *sd, r)
	})
	if err != nil {
		msg, failure := "the passkey was not accepted", "mfa_failed"
		var te *auth.ThrottledError
		switch {
		case errors.As(err, &te):
			msg, failure = waitMessage(te), "throttled"
		case errors.Is(err, auth.ErrPasskeyClone):
			msg, failure = "this passkey may have been copied and no longer works; use another factor", "passkey_clone"
		}
		if aerr := h.audit(r, access.Login, u.ID, failure); aerr != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the audit log is unavailable"})
			return
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
		return
	}
	se.mfaDone = true
	se.amr = append(se.amr, "hwk", "mfa")
	writeJSON(w, http.StatusOK, map[string]string{"next": MFAPath}) // the MFA page sends on
}
