package oauth

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/hestiahealth/hestia/internal/access"
)

// AuthorizePath is the authorization endpoint. internal/web serves it (it
// needs the user's sign-in session) with ParseAuthorize and Approve.
const AuthorizePath = "/oauth2/authorize"

// AuthorizeRequest is a valid authorization request (SMART App Launch,
// authorization code with PKCE S256) waiting for the user's decision.
type AuthorizeRequest struct {
	ar         fosite.AuthorizeRequester
	ClientID   string
	ClientName string
	Scopes     []string // as requested
}

// WantsPatient reports whether the app asks for a patient context
// (launch/patient, standalone launch).
func (a *AuthorizeRequest) WantsPatient() bool {
	return slices.Contains(a.Scopes, "launch/patient")
}

// ParseAuthorize validates an authorization request: a registered client,
// its exact redirect URI (RFC 8252 loopback ports aside), response_type
// code, a state, a PKCE S256 challenge (plain and missing challenges are
// refused), scopes the client may ask for, and the SMART aud parameter
// naming this server. Errors go back with AuthorizeError.
func (s *Server) ParseAuthorize(ctx context.Context, r *http.Request) (*AuthorizeRequest, error) {
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	req := &AuthorizeRequest{ar: ar}
	if err != nil {
		return req, err
	}
	if aud := ar.GetRequestForm().Get("aud"); (aud != "" || wantsFHIR(ar.GetRequestedScopes())) && strings.TrimSuffix(aud, "/") != s.Issuer() {
		// SMART: an app asking for FHIR access names the FHIR server it
		// will use (a sign-in alone, OpenID Connect only, need not).
		return req, fosite.ErrInvalidRequest.WithHint("The aud parameter must be this FHIR server's base URL.")
	}
	if ar.GetRequestForm().Get("code_challenge") == "" || ar.GetRequestForm().Get("code_challenge_method") != "S256" {
		return req, fosite.ErrInvalidRequest.WithHint("PKCE with code_challenge_method S256 is required.")
	}
	if !ar.GetResponseTypes().ExactOne("code") {
		return req, fosite.ErrUnsupportedResponseType.WithHint("Only the authorization code flow (response_type=code) is supported.")
	}
	for _, sc := range ar.GetRequestedScopes() {
		if !scopeStrategy(ar.GetClient().GetScopes(), sc) {
			return req, fosite.ErrInvalidScope.WithHintf("The client may not ask for scope %q.", sc)
		}
	}
	req.ClientID = ar.GetClient().GetID()
	req.Scopes = ar.GetRequestedScopes()
	req.ClientName = req.ClientID
	if c, err := loadClient(ctx, s.cfg.Store, req.ClientID); err == nil {
		req.ClientName = c.Name
	}
	return req, nil
}

// wantsFHIR reports whether scopes ask for access to this server (resource,
// launch or admin scopes), as opposed to a sign-in only.
func wantsFHIR(scopes []string) bool {
	for _, sc := range scopes {
		if _, ok := access.ParseScope(sc); ok || strings.HasPrefix(sc, "launch") || sc == access.AdminScope {
			return true
		}
	}
	return false
}

// AuthorizeError answers a refused authorization request: back to the
// client's redirect URI with the error when that URI is valid, otherwise
// as a plain error page.
func (s *Server) AuthorizeError(w http.ResponseWriter, r *http.Request, req *AuthorizeRequest, err error) {
	var ar fosite.AuthorizeRequester = fosite.NewAuthorizeRequest()
	if req != nil && req.ar != nil {
		ar = req.ar
	}
	s.provider.WriteAuthorizeError(r.Context(), w, ar, err)
}

// Approval is the user's decision on an authorization request.
type Approval struct {
	Subject  string // the user's id
	FHIRUser string // the user's FHIR resource (Practitioner/x, Patient/y), or ""
	// Organization is the id of the user's Organization, or "" (a claim
	// of the access token, for the access policy).
	Organization string
	Patient      string    // the patient in context (launch/patient), or ""
	Scopes       []string  // granted: a subset of the requested scopes
	AuthTime     time.Time // when the user signed in (the ID token's auth_time)
	// Roles are the user's roles when they signed in; they travel in the
	// access token (a change revokes the account's grants).
	Roles []string
	// AMR lists how the user signed in (RFC 8176: pwd, otp, hwk, mfa …),
	// for the ID token.
	AMR []string
}

// Approve issues the authorization code for the scopes the user granted
// (never more than requested) and redirects back to the client.
func (s *Server) Approve(w http.ResponseWriter, r *http.Request, req *AuthorizeRequest, a Approval) {
	ctx := r.Context()
	for _, sc := range a.Scopes {
		if !slices.Contains(req.Scopes, sc) {
			s.AuthorizeError(w, r, req, fosite.ErrInvalidScope.WithHintf("Scope %q was not requested.", sc))
			return
		}
		req.ar.GrantScope(sc)
	}
	req.ar.GrantAudience(s.Issuer())
	sess := s.newSession()
	sess.Subject, sess.Username = a.Subject, a.Subject
	sess.JWTClaims.Subject = a.Subject
	if a.FHIRUser != "" {
		sess.JWTClaims.Extra["fhirUser"] = s.Issuer() + "/" + a.FHIRUser
	}
	if a.Patient != "" {
		sess.JWTClaims.Extra["patient"] = a.Patient
	}
	if a.Organization != "" {
		sess.JWTClaims.Extra["organization"] = a.Organization
	}
	if len(a.Roles) > 0 {
		sess.JWTClaims.Extra["roles"] = a.Roles
	}
	at := a.AuthTime
	if at.IsZero() {
		at = s.cfg.Now()
	}
	// When the user authorized: a later password reset, disabling or role
	// change voids the grant's refreshes (UserValid).
	sess.JWTClaims.Extra["auth_time"] = at.Unix()
	if slices.Contains(a.Scopes, "openid") {
		// The ID token (OpenID Connect, SMART sso-openid-connect): who
		// signed in, and their FHIR resource with the fhirUser scope.
		idc := sess.IDTokenClaims()
		idc.Subject = a.Subject
		idc.AuthTime = a.AuthTime
		idc.AuthenticationMethodsReferences = a.AMR
		idc.RequestedAt = req.ar.GetRequestedAt()
		if a.FHIRUser != "" && slices.Contains(a.Scopes, "fhirUser") {
			idc.Extra["fhirUser"] = s.Issuer() + "/" + a.FHIRUser
		}
		if len(a.Roles) > 0 {
			// Another Hestia (or any relying party) can map them.
			idc.Extra["roles"] = a.Roles
		}
	}
	kid := s.currentKid()
	sess.JWTHeader.Extra["kid"] = kid
	sess.IDTokenHeaders().Extra["kid"] = kid
	resp, err := s.provider.NewAuthorizeResponse(context.WithValue(ctx, kidKey{}, kid), req.ar, sess)
	if err != nil {
		s.AuthorizeError(w, r, req, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, w, req.ar, resp)
}

// ErrAccessDenied is the answer when the user denies the request;
// ErrInvalidScope when a scope cannot be granted.
var (
	ErrAccessDenied = fosite.ErrAccessDenied
	ErrInvalidScope = fosite.ErrInvalidScope
)
