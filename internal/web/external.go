package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/crypt"
)

// External is an OpenID Connect provider staff may sign in with (the
// hospital's identity provider). Its users get local accounts on their
// first sign-in, with roles mapped from a claim of the ID token; a user
// whose claim maps to no role cannot sign in.
type External struct {
	Name         string // shown on the sign-in page
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string          // besides openid
	RoleClaim    string            // the ID-token claim with the user's roles or groups (default "roles")
	Roles        map[string]string // provider value → Hestia role
	// TrustMFA accepts the provider's sign-in as multi-factor: its users
	// do not enrol a local second factor.
	TrustMFA bool
	// HTTPClient reaches the provider (its discovery document, keys and
	// token endpoint); default http.DefaultClient.
	HTTPClient *http.Client
}

// Paths of the external sign-in.
const (
	ExternalPath     = "/signin/external"
	ExternalCallback = "/signin/external/callback"
)

// externalState is what a session remembers of a sign-in sent to the
// provider.
type externalState struct {
	state, nonce, verifier string
}

func (h *Handler) externalProvider(ctx context.Context) (*oidc.Provider, error) {
	h.externalMu.Lock()
	defer h.externalMu.Unlock()
	if h.externalP != nil {
		return h.externalP, nil
	}
	p, err := oidc.NewProvider(h.externalContext(ctx), h.cfg.External.Issuer)
	if err != nil {
		return nil, err // tried again next time: the provider may have been down
	}
	h.externalP = p
	return p, nil
}

func (h *Handler) externalContext(ctx context.Context) context.Context {
	if c := h.cfg.External.HTTPClient; c != nil {
		return oidc.ClientContext(context.WithoutCancel(ctx), c)
	}
	return context.WithoutCancel(ctx)
}

func (h *Handler) oauth2Config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     h.cfg.External.ClientID,
		ClientSecret: h.cfg.External.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  h.cfg.OAuth.Issuer() + ExternalCallback,
		Scopes:       append([]string{oidc.ScopeOpenID}, h.cfg.External.Scopes...),
	}
}

// externalStart sends the browser to the provider, with state, nonce and
// PKCE kept in the session.
func (h *Handler) externalStart(w http.ResponseWriter, r *http.Request) {
	p, err := h.externalProvider(r.Context())
	if err != nil {
		h.cfg.Logger.Error("external sign-in: discovery", slog.String("error", err.Error()))
		h.fail(w, http.StatusServiceUnavailable, "The identity provider cannot be reached. Try again later.")
		return
	}
	se := h.session(r)
	if se == nil || se.done {
		if se != nil {
			h.sessions.end(se)
		}
		se = h.sessions.start()
	}
	if next := localNext(r.URL.Query().Get("next")); next != "" {
		se.next = next
	}
	se.external = &externalState{state: crypt.RandomToken(24), nonce: crypt.RandomToken(24), verifier: oauth2.GenerateVerifier()}
	h.setSession(w, se)
	http.Redirect(w, r, h.oauth2Config(p).AuthCodeURL(se.external.state, oidc.Nonce(se.external.nonce),
		oauth2.S256ChallengeOption(se.external.verifier)), http.StatusSeeOther)
}

// externalCallback completes a sign-in at the provider: the code is
// exchanged (with the PKCE verifier), the ID token verified (issuer,
// audience, expiry, signature, nonce), the roles mapped, the local account
// found or created, and the sign-in continues like a password sign-in.
func (h *Handler) externalCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	se := h.session(r)
	if se == nil || se.external == nil || !crypt.TokenMatches(crypt.HashToken([]byte(se.external.state)), []byte(r.URL.Query().Get("state"))) {
		h.fail(w, http.StatusBadRequest, "This sign-in did not start here, or it expired. Start again.")
		return
	}
	ext := se.external
	se.external = nil
	p, err := h.externalProvider(ctx)
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, "The identity provider cannot be reached. Try again later.")
		return
	}
	refuse := func(failure, msg string, err error) {
		if err != nil {
			h.cfg.Logger.Warn("external sign-in refused", slog.String("failure", failure), slog.String("error", err.Error()))
		}
		if aerr := h.audit(r, access.Login, "", failure); aerr != nil {
			h.unavailable(w)
			return
		}
		h.fail(w, http.StatusForbidden, msg)
	}
	if e := r.URL.Query().Get("error"); e != "" {
		refuse("provider_"+plain(e, 32), "The identity provider did not sign you in.", nil)
		return
	}
	xctx := h.externalContext(ctx)
	tok, err := h.oauth2Config(p).Exchange(xctx, r.URL.Query().Get("code"), oauth2.VerifierOption(ext.verifier))
	if err != nil {
		refuse("provider_exchange", "The identity provider's answer could not be used. Start again.", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: h.cfg.External.ClientID}).Verify(xctx, raw)
	if err != nil || !crypt.TokenMatches(crypt.HashToken([]byte(ext.nonce)), []byte(idt.Nonce)) {
		if err == nil {
			err = errors.New("nonce mismatch")
		}
		refuse("provider_id_token", "The identity provider's answer could not be verified. Start again.", err)
		return
	}
	roles, err := h.mapRoles(idt)
	if errors.Is(err, errNoRoleClaim) || (err != nil) {
		// The claim is missing (a provider may leave it out, e.g. too many
		// groups): refused, but the account is left as it is.
		refuse("no_role_claim", "Your account at the identity provider has no role here. Ask an administrator.", err)
		return
	}
	if len(roles) == 0 {
		// No role here any more: the local account (if any) is disabled,
		// with its record in the same transaction, then its grants revoked.
		var id string
		derr := h.cfg.Audit.AccountChangeRecorded(ctx, access.UserAdministration, "", func(seal func(string) ([]byte, error)) error {
			var err error
			id, err = h.cfg.Accounts.DisableExternal(ctx, idt.Issuer, idt.Subject, func(u *auth.User) ([]byte, error) {
				return seal("disable external account=" + u.ID + " (no role mapped)")
			})
			return err
		})
		if derr == nil && id != "" {
			derr = h.cfg.OAuth.RevokeSubject(ctx, id)
		}
		if derr != nil {
			h.unavailable(w)
			return
		}
		refuse("no_role", "Your account at the identity provider has no role here. Ask an administrator.", nil)
		return
	}
	var u *auth.User
	var changed bool
	err = h.cfg.Audit.AccountChangeRecorded(ctx, access.UserAdministration, "", func(seal func(string) ([]byte, error)) error {
		var err error
		u, changed, err = h.cfg.Accounts.External(ctx, idt.Issuer, idt.Subject, roles, func(u *auth.User) ([]byte, error) {
			// Created or re-roled: recorded with the change.
			return seal("external account=" + u.ID + " roles=" + strings.Join(u.Roles, ","))
		})
		return err
	})
	if errors.Is(err, auth.ErrSignIn) {
		refuse("disabled", auth.ErrSignIn.Error(), nil)
		return
	} else if err != nil {
		h.cfg.Logger.Error("external sign-in: account", slog.String("error", err.Error()))
		h.unavailable(w)
		return
	}
	if changed {
		// What the old roles were issued is revoked (NotBefore already
		// voids it).
		if err := h.cfg.OAuth.RevokeSubject(ctx, u.ID); err != nil {
			h.unavailable(w)
			return
		}
	}
	nse := h.sessions.start()
	nse.next, nse.userID = se.next, u.ID
	nse.mfaDone = h.cfg.External.TrustMFA && providerMFA(idt)
	nse.amr = []string{"fed"}
	if nse.mfaDone {
		nse.amr = append(nse.amr, "mfa")
	}
	h.sessions.end(se)
	h.setSession(w, nse)
	h.advance(w, r, nse, u)
}

// providerMFA reports whether the provider says the sign-in used more than
// one factor (RFC 8176 amr values: "mfa", or a password with another
// factor).
func providerMFA(idt *oidc.IDToken) bool {
	var c struct {
		AMR []string `json:"amr"`
	}
	if idt.Claims(&c) != nil {
		return false
	}
	other := false
	for _, m := range c.AMR {
		switch m {
		case "mfa":
			return true
		case "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm":
			other = true
		}
	}
	return other && slices.Contains(c.AMR, "pwd")
}

// errNoRoleClaim: the ID token lacks the role claim.
var errNoRoleClaim = errors.New("the ID token has no claim")

// mapRoles maps the role claim of an ID token to Hestia roles (a string
// or a list of strings; values without a mapping are ignored).
func (h *Handler) mapRoles(idt *oidc.IDToken) ([]string, error) {
	claim := h.cfg.External.RoleClaim
	if claim == "" {
		claim = "roles"
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return nil, err
	}
	var values []string
	switch v := all[claim].(type) {
	case string:
		values = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	case nil:
		return nil, fmt.Errorf("%w %q", errNoRoleClaim, claim)
	}
	var roles []string
	for _, v := range values {
		if r, ok := h.cfg.External.Roles[v]; ok && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles, nil
}
