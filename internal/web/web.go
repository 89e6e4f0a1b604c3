// Package web serves the pages people use in a browser: sign-in with the
// second factor, the forced password change and MFA enrolment, sign-out,
// and the authorization screen of the OAuth authorization endpoint, where
// a user lets an app act for them with the scopes they choose.
//
// Invariants:
//   - Sessions live on the server; the cookie carries a random id only,
//     Secure (__Host-), HttpOnly and SameSite=Lax. The id changes when the
//     password is accepted and again when sign-in completes.
//   - A session ends after IdleTimeout without a request (default 15
//     minutes, HIPAA automatic logoff), after AbsoluteTimeout (default 12
//     hours), and at sign-out.
//   - Every form carries the session's CSRF token, checked in constant
//     time before anything else.
//   - Failed sign-ins say the same thing whatever failed; sign-ins,
//     failures and sign-outs are audited, and a sign-in whose event cannot
//     be recorded fails.
//   - Redirects after sign-in go to local paths only.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// Auditor records sign-in events; the engine implements it.
type Auditor interface {
	Authenticated(ctx context.Context, in access.Interaction, subject, client, scope, failure string) error
	AccountChangeRecorded(ctx context.Context, in access.Interaction, subject string, fn func(seal func(detail string) ([]byte, error)) error) error
}

// Config configures the pages.
type Config struct {
	Accounts *auth.Accounts
	OAuth    *oauth.Server
	Audit    Auditor
	// Administer decides and audits the admin API's calls.
	Administer Administer
	// PatientExists tells whether a Patient exists, looked up as the
	// signed-in user (the patient picker of a standalone launch).
	PatientExists func(ctx context.Context, userID, patientID string) (bool, error)
	// InsecureHTTP: the server speaks plain HTTP (loopback only): the
	// cookie cannot be Secure.
	InsecureHTTP    bool
	IdleTimeout     time.Duration // default 15 minutes
	AbsoluteTimeout time.Duration // default 12 hours
	Issuer          string        // shown in authenticator apps (default "Hestia")
	Logger          *slog.Logger
	Now             func() time.Time
	// External is the staff's OpenID Connect provider, if any.
	External *External
}

// Handler serves the pages.
type Handler struct {
	cfg      Config
	sessions *sessions

	externalMu sync.Mutex
	externalP  *oidc.Provider // discovered on first use
}

// Paths of the pages.
const (
	SignInPath   = "/signin"
	MFAPath      = "/signin/mfa"
	PasswordPath = "/signin/password"
	EnrolPath    = "/signin/enrol"
	RecoveryPath = "/signin/recovery"
	SignedInPath = "/signin/done"
	SignOutPath  = "/signout"
)

// New returns the pages' handler.
func New(cfg Config) *Handler {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = 12 * time.Hour
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Hestia"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, sessions: newSessions(cfg.IdleTimeout, cfg.AbsoluteTimeout, cfg.Now)}
}

// Routes serves every page. Requests of one session are served one at a
// time (locked): a sign-in step reads and changes the session's state
// without another request of the same cookie in between.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+SignInPath, h.locked(h.signInForm))
	mux.HandleFunc("POST "+SignInPath, h.locked(h.signIn))
	mux.HandleFunc("GET "+MFAPath, h.locked(h.mfaForm))
	mux.HandleFunc("POST "+MFAPath, h.locked(h.mfa))
	mux.HandleFunc("GET "+PasswordPath, h.locked(h.passwordForm))
	mux.HandleFunc("POST "+PasswordPath, h.locked(h.password))
	mux.HandleFunc("GET "+EnrolPath, h.locked(h.enrolForm))
	mux.HandleFunc("POST "+EnrolPath, h.locked(h.enrol))
	mux.HandleFunc("GET "+RecoveryPath, h.locked(h.recovery))
	mux.HandleFunc("GET "+SignedInPath, h.locked(h.signedIn))
	mux.HandleFunc("POST "+SignOutPath, h.locked(h.signOut))
	if h.cfg.External != nil {
		mux.HandleFunc("GET "+ExternalPath, h.locked(h.externalStart))
		mux.HandleFunc("GET "+ExternalCallback, h.locked(h.externalCallback))
	}
	h.passkeyRoutes(mux)
	mux.HandleFunc("GET "+oauth.AuthorizePath, h.locked(h.authorize))
	mux.HandleFunc("POST "+oauth.AuthorizePath, h.locked(h.authorize))
}

// locked serves a request holding its session's lock (if it has one).
func (h *Handler) locked(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if se := h.session(r); se != nil {
			se.mu.Lock()
			defer se.mu.Unlock()
		}
		fn(w, r)
	}
}

// page renders a page; data is the template's.
func (h *Handler) page(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.cfg.Logger.Error("render page", slog.String("page", name), slog.String("error", err.Error()))
	}
}

func (h *Handler) fail(w http.ResponseWriter, status int, msg string) {
	h.page(w, status, "error", map[string]any{"Message": msg})
}

// waitMessage tells a throttled user how long to wait (whole seconds,
// rounded up).
func waitMessage(te *auth.ThrottledError) string {
	return fmt.Sprintf("Too many failed attempts. Wait %d seconds and try again.", int(te.RetryAfter.Seconds()+0.999))
}

// unavailable answers 503 when sign-in cannot go on (the audit log or the
// account store failed): nothing is granted.
func (h *Handler) unavailable(w http.ResponseWriter) {
	h.fail(w, http.StatusServiceUnavailable, "Sign-in is unavailable. Try again later.")
}

func addr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// localNext keeps a redirect target only if it is a local path: no
// scheme, no host, no control characters or backslashes (browsers drop or
// turn them into slashes), returned rebuilt from its parsed path and query.
func localNext(next string) string {
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	out := (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).RequestURI()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return ""
	}
	return out
}

func (h *Handler) signInForm(w http.ResponseWriter, r *http.Request) {
	se := h.session(r)
	if se == nil || se.done {
		if se != nil {
			h.sessions.end(se)
		}
		se = h.sessions.start()
		h.setSession(w, se)
	}
	if next := localNext(r.URL.Query().Get("next")); next != "" {
		se.next = next
	}
	h.page(w, http.StatusOK, "signin", h.signinData(se, ""))
}

// signinData is what the sign-in page shows.
func (h *Handler) signinData(se *session, msg string) map[string]any {
	d := map[string]any{"CSRF": se.csrf, "Error": msg}
	if h.cfg.External != nil {
		d["External"] = h.cfg.External.Name
		d["ExternalURL"] = ExternalPath
		if se.next != "" {
			d["ExternalURL"] = ExternalPath + "?next=" + urlQueryEscape(se.next)
		}
	}
	return d
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	se := h.session(r)
	if !checkCSRF(r, se) {
		h.fail(w, http.StatusForbidden, "The form expired or did not come from this site. Go back, reload and try again.")
		return
	}
	username := r.PostFormValue("username")
	u, err := h.cfg.Accounts.SignIn(r.Context(), username, r.PostFormValue("password"), addr(r))
	if err != nil {
		failure, msg := "bad_credentials", auth.ErrSignIn.Error()
		var te *auth.ThrottledError
		if errors.As(err, &te) {
			failure, msg = "throttled", waitMessage(te)
		} else if errors.Is(err, auth.ErrBusy) {
			w.Header().Set("Retry-After", "2")
			h.page(w, http.StatusTooManyRequests, "signin", h.signinData(se, auth.ErrBusy.Error()))
			return
		} else if !errors.Is(err, auth.ErrSignIn) {
			h.cfg.Logger.Error("sign-in", slog.String("error", err.Error()))
			h.unavailable(w)
			return
		}
		if aerr := h.audit(r, access.Login, h.accountID(r.Context(), username), failure); aerr != nil {
			h.unavailable(w)
			return
		}
		h.page(w, http.StatusUnauthorized, "signin", h.signinData(se, msg))
		return
	}
	// A fresh session for the account: nothing of the anonymous one
	// (which another request may be using) carries over but where to go.
	nse := h.sessions.start()
	nse.next, nse.userID, nse.amr = se.next, u.ID, []string{"pwd"}
	h.sessions.end(se)
	h.setSession(w, nse)
	h.advance(w, r, nse, u)
}

// accountID is the id of the account a username names, for the audit
// log of a failed sign-in ("" if none: the typed name is never recorded,
// as it may be a password typed in the wrong field).
func (h *Handler) accountID(ctx context.Context, username string) string {
	if u, err := h.cfg.Accounts.ByName(ctx, strings.TrimSpace(username)); err == nil {
		return u.ID
	}
	return ""
}

func (h *Handler) audit(r *http.Request, in access.Interaction, subject, failure string) error {
	err := h.cfg.Audit.Authenticated(r.Context(), in, subject, "", "", failure)
	if err != nil {
		h.cfg.Logger.Error("audit sign-in", slog.String("error", err.Error()))
	}
	return err
}

// advance sends a session with a checked password to its next step:
// password change, MFA enrolment, second factor, or done.
func (h *Handler) advance(w http.ResponseWriter, r *http.Request, se *session, u *auth.User) {
	switch {
	case u.HasMFA() && !se.mfaDone:
		// The second factor first: a password alone changes nothing.
		http.Redirect(w, r, MFAPath, http.StatusSeeOther)
	case u.MustChange && u.ExternalIssuer == "":
		http.Redirect(w, r, PasswordPath, http.StatusSeeOther)
	case h.cfg.Accounts.MFARequired(u) && !u.HasMFA() && !se.mfaDone:
		// (mfaDone without a local factor: a provider trusted for MFA.)
		http.Redirect(w, r, EnrolPath, http.StatusSeeOther)
	default:
		if err := h.audit(r, access.Login, u.ID, ""); err != nil {
			h.unavailable(w)
			return
		}
		h.sessions.rotate(se)
		se.done, se.at, se.doneFor = true, h.cfg.Now(), u.ID
		h.setSession(w, se)
		next := se.next
		se.next = ""
		if next == "" {
			next = SignedInPath
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// recorded runs a user's own change to their account with its audit
// record (in, with detail) in the change's transaction: the change is not
// made unrecorded. A failure of the audit log is a fault.Unavailable.
func (h *Handler) recorded(r *http.Request, in access.Interaction, u *auth.User, detail string, fn func(rec auth.Record) error) error {
	return h.cfg.Audit.AccountChangeRecorded(r.Context(), in, u.ID, func(seal func(string) ([]byte, error)) error {
		return fn(func(*auth.User) ([]byte, error) { return seal(detail) })
	})
}

// pending returns the session and account of a sign-in in progress (the
// password checked), or sends the browser back to the sign-in page.
func (h *Handler) pending(w http.ResponseWriter, r *http.Request) (*session, *auth.User, bool) {
	se := h.session(r)
	if se == nil || se.userID == "" {
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
		return nil, nil, false
	}
	u, err := h.cfg.Accounts.Get(r.Context(), se.userID)
	if err != nil || u.Disabled || se.created.Before(u.NotBefore) {
		h.sessions.end(se)
		h.clearSession(w)
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
		return nil, nil, false
	}
	if r.Method == http.MethodPost && !checkCSRF(r, se) {
		h.fail(w, http.StatusForbidden, "The form expired or did not come from this site. Go back, reload and try again.")
		return nil, nil, false
	}
	return se, u, true
}

func (h *Handler) mfaForm(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	if !u.HasMFA() || se.mfaDone {
		h.advance(w, r, se, u)
		return
	}
	w.Header().Set("Content-Security-Policy", scriptCSP)
	_, rpErr := h.relyingParty()
	h.page(w, http.StatusOK, "mfa", map[string]any{"CSRF": se.csrf, "Passkeys": len(u.Passkeys) > 0 && rpErr == nil})
}

func (h *Handler) mfa(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	recoveryBefore := len(u.Recovery)
	if err := h.cfg.Accounts.SecondFactor(r.Context(), u, r.PostFormValue("code"), addr(r)); err != nil {
		msg, failure := "The code is wrong or was already used.", "mfa_failed"
		var te *auth.ThrottledError
		if errors.As(err, &te) {
			msg, failure = waitMessage(te), "throttled"
		}
		if aerr := h.audit(r, access.Login, u.ID, failure); aerr != nil {
			h.unavailable(w)
			return
		}
		h.page(w, http.StatusUnauthorized, "mfa", map[string]any{"CSRF": se.csrf, "Error": msg})
		return
	}
	se.amr = append(se.amr, "otp", "mfa")
	if len(u.Recovery) < recoveryBefore {
		// A recovery code was spent: the account holder (or whoever has
		// the codes) should know, and an auditor can see it.
		if err := h.audit(r, access.RecoveryCode, u.ID, ""); err != nil {
			h.unavailable(w)
			return
		}
	}
	se.mfaDone = true
	h.advance(w, r, se, u)
}

// mayChangePassword: the sign-in page's password change is for a one-time
// password only, and after the second factor when the account has one.
func mayChangePassword(se *session, u *auth.User) bool {
	return u.MustChange && u.ExternalIssuer == "" && (!u.HasMFA() || se.mfaDone)
}

func (h *Handler) passwordForm(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	if !mayChangePassword(se, u) {
		h.advance(w, r, se, u)
		return
	}
	h.page(w, http.StatusOK, "password", map[string]any{"CSRF": se.csrf})
}

func (h *Handler) password(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	if !mayChangePassword(se, u) {
		h.fail(w, http.StatusForbidden, "The password can be changed here only to replace a one-time password.")
		return
	}
	next := r.PostFormValue("new")
	var err error
	if next != r.PostFormValue("confirm") {
		err = errors.New("the two new passwords differ")
	} else {
		err = h.recorded(r, access.PasswordChange, u, "password changed", func(rec auth.Record) error {
			return h.cfg.Accounts.ChangePassword(r.Context(), u, r.PostFormValue("current"), next, rec)
		})
	}
	if fault.KindOf(err) == fault.Unavailable {
		h.unavailable(w)
		return
	}
	if err != nil {
		h.page(w, http.StatusBadRequest, "password", map[string]any{"CSRF": se.csrf, "Error": err.Error()})
		return
	}
	h.advance(w, r, se, u)
}

func (h *Handler) enrolForm(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	if u.HasMFA() || !h.mayEnrol(se, u) {
		h.advance(w, r, se, u)
		return
	}
	secret, uri, err := h.cfg.Accounts.BeginTOTP(r.Context(), u, h.cfg.Issuer)
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, "Enrolment is unavailable. Try again later.")
		return
	}
	w.Header().Set("Content-Security-Policy", scriptCSP)
	_, rpErr := h.relyingParty()
	h.page(w, http.StatusOK, "enrol", map[string]any{"CSRF": se.csrf, "Secret": secret, "URI": uri, "Passkeys": rpErr == nil})
}

// mayEnrol: a second factor is added to an account that has none, or
// after the second factor — never with a password alone on an account that
// has one.
func (h *Handler) mayEnrol(se *session, u *auth.User) bool {
	return se.mfaDone || !u.HasMFA()
}

func (h *Handler) enrol(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	if !h.mayEnrol(se, u) || u.HasMFA() {
		h.fail(w, http.StatusForbidden, "A second factor can be added here only during the enrolment your role requires.")
		return
	}
	var codes []string
	err := h.recorded(r, access.MFAEnrolment, u, "authenticator app", func(rec auth.Record) (err error) {
		codes, err = h.cfg.Accounts.ConfirmTOTP(r.Context(), u, r.PostFormValue("code"), addr(r), rec)
		return err
	})
	if fault.KindOf(err) == fault.Unavailable {
		h.unavailable(w)
		return
	}
	if err != nil {
		msg := "The code is wrong. Check the clock of your device and try the next code."
		var te *auth.ThrottledError
		if errors.As(err, &te) {
			msg = waitMessage(te)
		}
		_, rpErr := h.relyingParty()
		w.Header().Set("Content-Security-Policy", scriptCSP)
		h.page(w, http.StatusBadRequest, "enrol", map[string]any{"CSRF": se.csrf, "Secret": u.TOTPPending, "Passkeys": rpErr == nil, "Error": msg})
		return
	}
	se.mfaDone, se.recovery = true, codes
	se.amr = append(se.amr, "otp", "mfa")
	http.Redirect(w, r, RecoveryPath, http.StatusSeeOther)
}

func (h *Handler) recovery(w http.ResponseWriter, r *http.Request) {
	se, u, ok := h.pending(w, r)
	if !ok {
		return
	}
	codes := se.recovery
	se.recovery = nil
	if len(codes) == 0 {
		h.advance(w, r, se, u)
		return
	}
	h.page(w, http.StatusOK, "recovery", map[string]any{"CSRF": se.csrf, "Codes": codes, "Next": EnrolPath})
}

func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) {
	se := h.session(r)
	if se == nil || !se.done {
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
		return
	}
	h.page(w, http.StatusOK, "done", map[string]any{"CSRF": se.csrf})
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	se := h.session(r)
	if se != nil && !checkCSRF(r, se) {
		h.fail(w, http.StatusForbidden, "The form expired or did not come from this site.")
		return
	}
	h.clearSession(w)
	if se != nil {
		// The session ends whatever happens next: a sign-out is never
		// refused.
		h.sessions.end(se)
		if se.done {
			if err := h.audit(r, access.Logout, se.userID, ""); err != nil {
				h.fail(w, http.StatusServiceUnavailable, "You are signed out, but the audit log could not record it; tell an administrator.")
				return
			}
		}
	}
	h.page(w, http.StatusOK, "signedout", nil)
}

var patientID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// authorize is the OAuth authorization endpoint: sign in first, then
// decide which of the requested scopes the app gets.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := h.cfg.OAuth.ParseAuthorize(ctx, r)
	if err != nil {
		h.cfg.OAuth.AuthorizeError(w, r, req, err)
		return
	}
	se := h.session(r)
	if se == nil || !se.done || se.doneFor != se.userID {
		if r.Method != http.MethodGet {
			h.fail(w, http.StatusForbidden, "Your session ended. Start again from the app.")
			return
		}
		http.Redirect(w, r, SignInPath+"?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	u, err := h.cfg.Accounts.Get(ctx, se.userID)
	if err != nil || u.Disabled || se.created.Before(u.NotBefore) {
		h.sessions.end(se)
		h.clearSession(w)
		h.fail(w, http.StatusForbidden, "This session ended. Sign in again.")
		return
	}
	isPatient := slices.Contains(u.Roles, auth.PatientRole)
	data := map[string]any{"CSRF": se.csrf, "App": req.ClientName, "Scopes": req.Scopes, "Action": r.URL.RequestURI(),
		"Picker": req.WantsPatient() && !isPatient}
	if r.Method == http.MethodGet {
		h.page(w, http.StatusOK, "authorize", data)
		return
	}
	if !checkCSRF(r, se) {
		h.fail(w, http.StatusForbidden, "The form expired or did not come from this site.")
		return
	}
	if r.PostFormValue("decision") != "allow" {
		if err := h.cfg.Audit.Authenticated(ctx, access.Consent, u.ID, req.ClientID, "", "denied"); err != nil {
			h.fail(w, http.StatusServiceUnavailable, "The decision cannot be recorded now. Try again later.")
			return
		}
		h.cfg.OAuth.AuthorizeError(w, r, req, errAccessDenied)
		return
	}
	a := oauth.Approval{Subject: u.ID, Scopes: r.PostForm["grant"], AuthTime: se.at, Roles: u.Roles, AMR: se.amr}
	if isPatient {
		// A patient's app acts in the patient's own context only.
		for _, sc := range a.Scopes {
			if strings.HasPrefix(sc, "user/") || strings.HasPrefix(sc, "system/") || sc == access.AdminScope {
				h.cfg.OAuth.AuthorizeError(w, r, req, oauth.ErrInvalidScope.WithHint("A patient's account cannot grant "+sc+"."))
				return
			}
		}
	}
	switch {
	case isPatient:
		a.FHIRUser = "Patient/" + u.Patient
		if req.WantsPatient() {
			a.Patient = u.Patient
		}
	case u.Practitioner != "":
		a.FHIRUser = "Practitioner/" + u.Practitioner
	}
	a.Organization = u.Organization
	if data["Picker"] == true {
		p := strings.TrimSpace(r.PostFormValue("patient"))
		ok := patientID.MatchString(p)
		if ok && h.cfg.PatientExists != nil {
			ok, err = h.cfg.PatientExists(ctx, u.ID, p)
			if err != nil {
				h.fail(w, http.StatusServiceUnavailable, "The patient cannot be looked up now. Try again later.")
				return
			}
		}
		if !ok {
			data["Error"] = "No patient with that id."
			h.page(w, http.StatusBadRequest, "authorize", data)
			return
		}
		a.Patient = p
	}
	// The decision is audited before the app gets its code.
	if err := h.cfg.Audit.Authenticated(ctx, access.Consent, u.ID, req.ClientID, strings.Join(a.Scopes, " "), ""); err != nil {
		h.fail(w, http.StatusServiceUnavailable, "The decision cannot be recorded now. Try again later.")
		return
	}
	h.cfg.OAuth.Approve(w, r, req, a)
}
