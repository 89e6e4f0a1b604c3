package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/oauth"
	"github.com/hestiahealth/hestia/internal/web"
)

// authSealer seals the secrets of accounts and the authorization server.
type authSealer interface {
	SealAuth(purpose string, secret []byte) ([]byte, error)
	OpenAuth(purpose string, sealed []byte) ([]byte, error)
}

// newAuthSealer is the keyring, or in the benchmark-only plaintext build
// (no keyring) a key that lives in memory: its accounts and grants do not
// survive a restart.
func newAuthSealer(keys *crypt.Keyring) (authSealer, error) {
	if keys != nil {
		return keys, nil
	}
	s, err := crypt.NewSealer()
	if err != nil {
		return nil, err
	}
	return memSealer{s}, nil
}

// openOAuth opens the authorization server of a node.
func openOAuth(ctx context.Context, cfg Config, node *Node, failures *failureLimiter) (*oauth.Server, error) {
	return oauth.New(ctx, oauth.Config{
		Issuer:         cfg.BaseURL,
		Store:          node.DB,
		Meta:           node.DB,
		Keys:           node.sealer,
		Audit:          authAuditor{node: node, failures: failures},
		AccessTokenTTL: cfg.AccessTokenTTL,
		UserValid:      node.Accounts.Valid,
	})
}

// authAuditor records the authorization server's events in the audit log;
// refusals are limited per client address (failureLimiter).
type authAuditor struct {
	node     *Node
	failures *failureLimiter
}

func (a authAuditor) AuthEvent(ctx context.Context, ev oauth.Event) error {
	in := access.Token
	switch ev.Action {
	case "revoke":
		in = access.TokenRevoke
	case "introspect":
		in = access.TokenIntrospect
	}
	failure := ev.Failure
	if failure != "" && a.failures != nil {
		var addr string
		if p := access.PrincipalFrom(ctx); p != nil && p.Address.IsValid() {
			addr = p.Address.String()
		}
		var ok bool
		if failure, ok = a.failures.note(addr, failure); !ok {
			return nil // counted; recorded with a later failure
		}
	}
	return a.node.Engine.Authenticated(ctx, in, ev.Subject, ev.Client, strings.Join(ev.Scopes, " "), failure)
}

type memSealer struct{ s *crypt.Sealer }

func (m memSealer) SealAuth(purpose string, b []byte) ([]byte, error) {
	t, err := m.s.Seal(b, []byte(purpose))
	return []byte(t), err
}

func (m memSealer) OpenAuth(purpose string, b []byte) ([]byte, error) {
	return m.s.Open(string(b), []byte(purpose))
}

// public reports whether a path is served without an access token: the
// capability statement, the authorization server and its discovery
// documents, the sign-in pages (they have their own session), and the
// audit log's checkpoints and proofs (hashes only).
func public(path string) bool {
	switch {
	case path == "/metadata",
		path == oauth.SMARTConfig, path == oauth.OIDCConfig,
		strings.HasPrefix(path, "/oauth2/"),
		path == web.SignInPath, strings.HasPrefix(path, web.SignInPath+"/"), path == web.SignOutPath,
		path == "/audit/checkpoint",
		strings.HasPrefix(path, "/audit/proof/"):
		return true
	}
	return false
}

// MaxBreakGlassReason bounds the reason a user gives to break the glass.
const MaxBreakGlassReason = 500

// breakGlassReason reads the break-the-glass header
// (engine.BreakGlassHeader): printable characters only (control and format
// characters dropped). A header that says nothing (fewer than three
// letters or digits) is a problem to answer with 400, not a reason.
func breakGlassReason(r *http.Request) (reason, problem string) {
	v := r.Header.Get(engine.BreakGlassHeader)
	if v == "" {
		return "", ""
	}
	if len(v) > MaxBreakGlassReason {
		v = v[:MaxBreakGlassReason]
	}
	v = strings.TrimSpace(strings.Map(func(c rune) rune {
		if c == utf8.RuneError || unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return -1
		}
		if unicode.IsSpace(c) {
			return ' '
		}
		return c
	}, v))
	n := 0
	for _, c := range v {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			n++
		}
	}
	if n < 3 {
		return "", engine.BreakGlassHeader + " must say why the glass is broken (at least three letters or digits)"
	}
	return v, ""
}

// PurposeHeader states a request's purpose of use: a v3-ActReason code
// (TREAT, HPAYMT, HOPERAT …), which consents may depend on. Without it the
// role's purpose applies.
const PurposeHeader = "X-Purpose-Of-Use"

// purposeOfUse reads the purpose header: a code of capital letters,
// digits and '-' (at most 20), or a problem to answer with 400.
func purposeOfUse(r *http.Request) (purpose, problem string) {
	v := strings.TrimSpace(r.Header.Get(PurposeHeader))
	if v == "" {
		return "", ""
	}
	ok := len(v) <= 20
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			ok = false
		}
	}
	if !ok {
		return "", PurposeHeader + " must be a purpose-of-use code such as TREAT (capital letters, digits and '-', at most 20)"
	}
	return v, ""
}

// authenticate finds the principal of a request from its bearer token. It
// answers 401 (with WWW-Authenticate, RFC 6750) and returns false when
// there is no valid token; each refusal is audited.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, id string) (*access.Principal, bool) {
	addr := remoteAddr(r)
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if h != "" && strings.EqualFold(scheme, "Bearer") && token != "" {
		c, err := s.auth.Verify(r.Context(), token)
		if err == nil {
			kind := access.KindUser
			if c.Subject == c.Client {
				kind = access.KindService
			}
			reason, problem := breakGlassReason(r)
			purpose, problem2 := purposeOfUse(r)
			if problem == "" {
				problem = problem2
			}
			if problem != "" {
				reject(w, http.StatusBadRequest, "invalid", problem, id)
				return nil, false
			}
			return &access.Principal{ID: c.Subject, Kind: kind, Address: addr, Client: c.Client, Scopes: c.Scopes,
				Patient: c.Patient, FHIRUser: c.FHIRUser, Organization: c.Organization, Roles: c.Roles, BreakGlass: reason,
				Purpose: purpose}, true
		}
	}
	failure, challenge := "no_token", `Bearer realm="hestia"`
	if h != "" {
		failure, challenge = "invalid_token", `Bearer realm="hestia", error="invalid_token"`
	}
	if failure, ok := s.failures.note(addr.String(), failure); ok {
		if err := s.node.Engine.Authenticated(r.Context(), access.Authenticate, "", "", "", failure); err != nil {
			s.log.Error("audit an authentication failure", slog.String("request", id), slog.String("error", err.Error()))
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	reject(w, http.StatusUnauthorized, "login", "a valid access token is required (Authorization: Bearer)", id)
	return nil, false
}

// AddUser creates an account, audited as user administration by the
// principal of ctx; without a password it gets a one-time password, which
// is returned.
func (n *Node) AddUser(ctx context.Context, nu auth.NewUser) (*auth.User, string, error) {
	var u *auth.User
	var otp string
	err := n.Engine.AdministerRecorded(ctx, access.UserAdministration, "create roles="+strings.Join(nu.Roles, ","), func(seal func(string) ([]byte, error)) error {
		var err error
		u, otp, err = n.Accounts.Create(ctx, nu, func(u *auth.User) ([]byte, error) {
			return seal("create account=" + u.ID + " roles=" + strings.Join(u.Roles, ","))
		})
		return err
	})
	return u, otp, err
}

// Init creates the first administrator if there are no accounts yet, with
// a one-time password that must be changed at the first sign-in (MFA
// enrolment follows). It returns nil if accounts exist. There is no
// default account: without a username, one is generated (admin-XXXXXX).
func (n *Node) Init(ctx context.Context, username string) (*auth.User, string, error) {
	count, err := n.DB.CountUsers(ctx)
	if err != nil || count > 0 {
		return nil, "", err
	}
	if username == "" {
		username = "admin-" + strings.ToLower(crypt.RandomToken(4))[:6]
	}
	return n.AddUser(access.WithPrincipal(ctx, access.Local()), auth.NewUser{Username: username, Roles: []string{"admin"}})
}

// external is the staff's OpenID Connect provider of the configuration
// (nil if none).
func (cfg Config) external() (*web.External, error) {
	if cfg.OIDCIssuer == "" {
		return nil, nil
	}
	roles, err := cfg.oidcRoles()
	if err != nil {
		return nil, err
	}
	x := &web.External{Name: cfg.OIDCName, Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		Scopes: strings.Fields(cfg.OIDCScopes), RoleClaim: cfg.OIDCRoleClaim, Roles: roles, TrustMFA: cfg.OIDCTrustMFA}
	if x.Name == "" {
		x.Name = "your organisation's account"
	}
	if cfg.OIDCCAFile != "" {
		pemData, err := os.ReadFile(cfg.OIDCCAFile)
		if err != nil {
			return nil, fmt.Errorf("OpenID Connect CA: %w", err)
		}
		tc, err := crypt.ClientTLS(pemData)
		if err != nil {
			return nil, fmt.Errorf("OpenID Connect CA %s: %w", cfg.OIDCCAFile, err)
		}
		x.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	} else {
		x.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return x, nil
}

// patientExists looks a Patient up as the signed-in user (the patient
// picker of a standalone launch): the read is decided and audited like
// any other, for a user principal holding user/Patient.r for this look-up.
func (n *Node) patientExists(ctx context.Context, userID, id string) (bool, error) {
	u, err := n.Accounts.Get(ctx, userID)
	if err != nil {
		return false, err
	}
	fhirUser := ""
	switch {
	case u.Patient != "":
		fhirUser = "Patient/" + u.Patient
	case u.Practitioner != "":
		fhirUser = "Practitioner/" + u.Practitioner
	}
	ctx = access.WithPrincipal(ctx, &access.Principal{ID: userID, Kind: access.KindUser, Client: "hestia-signin",
		Scopes: []string{"user/Patient.r"}, Roles: u.Roles, FHIRUser: fhirUser, Organization: u.Organization})
	_, err = n.Engine.Read(ctx, "Patient", id)
	if err == nil {
		return true, nil
	}
	switch fault.KindOf(err) {
	case fault.NotFound, fault.Gone, fault.Forbidden:
		return false, nil
	}
	return false, err
}

// RotateSigningKey makes a new key sign the access tokens; running servers
// on this data directory take it within 30 seconds, and tokens signed by
// the previous key keep verifying until they expire.
func (n *Node) RotateSigningKey(ctx context.Context) error {
	return oauth.RotateSigningKey(ctx, n.DB, n.sealer)
}

// flushFailures records, every minute, the authentication failures the
// limiter counted but did not record one by one, per address.
func (s *Server) flushFailures(ctx context.Context) {
	every(ctx, time.Minute, func() { s.recordSuppressed(ctx, s.failures.expired()) })
}

// every calls fn each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// recordSuppressed records counts of failures not recorded one by one.
func (s *Server) recordSuppressed(ctx context.Context, counts map[string]int) {
	for addr, n := range counts {
		p := access.Anonymous(netip.Addr{})
		if a, err := netip.ParseAddr(addr); err == nil {
			p.Address = a
		}
		failure := strconv.Itoa(n) + " authentication failures from " + addr + " not recorded one by one"
		if err := s.node.Engine.Authenticated(access.WithPrincipal(ctx, p), access.Authenticate, "", "", "", failure); err != nil {
			s.log.Error("audit suppressed authentication failures", slog.String("error", err.Error()))
		}
	}
}
