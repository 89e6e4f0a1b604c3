package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/fault"
)

// The admin API: accounts, for an administrator's app (a bearer token of
// a user with the admin role, holding access.AdminScope). JSON in and out.
// Every call is decided by the policy and audited as user administration.
//
//	GET  /admin/users                     the accounts
//	POST /admin/users                     create: {"username","roles","patient","practitioner"} → 201 {"id","username","one_time_password"}
//	POST /admin/users/{id}/reset-password → {"one_time_password"} (its sessions and tokens end)
//	POST /admin/users/{id}/disable        → 204 (sign-in refused; its sessions and tokens end)
//	POST /admin/users/{id}/enable         → 204
const AdminUsersPath = "/admin/users"

// Administer runs fn as an administrative interaction, decided by the
// policy for the principal of ctx; fn's change and its audit record (made
// by seal, with what it did to which account) commit together. The engine
// implements it (AdministerRecorded).
type Administer func(ctx context.Context, in access.Interaction, detail string, fn func(seal func(detail string) ([]byte, error)) error) error

// record is an account change's audit record, sealed with its detail.
func record(seal func(string) ([]byte, error), op string) auth.Record {
	return func(u *auth.User) ([]byte, error) {
		return seal(op + " account=" + u.ID + " roles=" + strings.Join(u.Roles, ","))
	}
}

// AdminRoutes serves the admin API.
func (h *Handler) AdminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+AdminUsersPath, h.listUsers)
	mux.HandleFunc("POST "+AdminUsersPath, h.createUser)
	mux.HandleFunc("POST "+AdminUsersPath+"/{id}/reset-password", h.resetPassword)
	mux.HandleFunc("POST "+AdminUsersPath+"/{id}/disable", h.setDisabled(true))
	mux.HandleFunc("POST "+AdminUsersPath+"/{id}/enable", h.setDisabled(false))
}

type userView struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Roles        []string  `json:"roles"`
	Patient      string    `json:"patient,omitempty"`
	Practitioner string    `json:"practitioner,omitempty"`
	Organization string    `json:"organization,omitempty"`
	MFA          bool      `json:"mfa"`
	MustChange   bool      `json:"must_change_password"`
	Disabled     bool      `json:"disabled"`
	Created      time.Time `json:"created"`
}

func view(u *auth.User) userView {
	return userView{ID: u.ID, Username: u.Username, Roles: u.Roles, Patient: u.Patient, Practitioner: u.Practitioner, Organization: u.Organization,
		MFA: u.HasMFA(), MustChange: u.MustChange, Disabled: u.Disabled, Created: u.Created}
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) {
	var out []userView
	// A read: no transaction to record in; the event follows it.
	err := h.cfg.Administer(r.Context(), access.UserAdministration, "list", func(func(string) ([]byte, error)) error {
		us, err := h.cfg.Accounts.List(r.Context())
		for _, u := range us {
			out = append(out, view(u))
		}
		return err
	})
	if err != nil {
		h.apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username     string   `json:"username"`
		Roles        []string `json:"roles"`
		Patient      string   `json:"patient"`
		Practitioner string   `json:"practitioner"`
		Organization string   `json:"organization"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be a JSON object with username, roles, patient, practitioner, organization"})
		return
	}
	var u *auth.User
	var otp string
	err := h.cfg.Administer(r.Context(), access.UserAdministration, "create roles="+strings.Join(in.Roles, ","), func(seal func(string) ([]byte, error)) error {
		var err error
		u, otp, err = h.cfg.Accounts.Create(r.Context(), auth.NewUser{Username: in.Username, Roles: in.Roles, Patient: in.Patient, Practitioner: in.Practitioner, Organization: in.Organization},
			record(seal, "create"))
		return err
	})
	if err != nil {
		h.apiError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "username": u.Username, "one_time_password": otp})
}

// withUser runs an action on the account named by the path, as user
// administration.
func (h *Handler) withUser(w http.ResponseWriter, r *http.Request, op string, act func(u *auth.User, seal func(string) ([]byte, error)) error) bool {
	err := h.cfg.Administer(r.Context(), access.UserAdministration, op+" account="+plain(r.PathValue("id"), 64), func(seal func(string) ([]byte, error)) error {
		u, err := h.cfg.Accounts.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return act(u, seal)
	})
	if err != nil {
		h.apiError(w, err)
		return false
	}
	return true
}

func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) {
	var otp string
	if h.withUser(w, r, "reset-password", func(u *auth.User, seal func(string) ([]byte, error)) (err error) {
		// The reset (and its record) first: its NotBefore voids every
		// grant and session from before, including one minted meanwhile;
		// the revocation then stops the refresh tokens at once.
		if otp, err = h.cfg.Accounts.ResetPassword(r.Context(), u, record(seal, "reset-password")); err != nil {
			return err
		}
		return h.cfg.OAuth.RevokeSubject(r.Context(), u.ID)
	}) {
		writeJSON(w, http.StatusOK, map[string]string{"one_time_password": otp})
	}
}

func (h *Handler) setDisabled(disabled bool) http.HandlerFunc {
	op := "enable"
	if disabled {
		op = "disable"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if h.withUser(w, r, op, func(u *auth.User, seal func(string) ([]byte, error)) error {
			if err := h.cfg.Accounts.SetDisabled(r.Context(), u, disabled, record(seal, op)); err != nil || !disabled {
				return err
			}
			return h.cfg.OAuth.RevokeSubject(r.Context(), u.ID)
		}) {
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

// apiError answers an admin API error: a refusal of the policy (403), the
// audit log down (503), the account's own errors (400, 404, 409); other
// failures say nothing of their cause.
func (h *Handler) apiError(w http.ResponseWriter, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.Is(err, auth.ErrNoUser):
		status, msg = http.StatusNotFound, "no such account"
	case errors.Is(err, auth.ErrExists):
		status, msg = http.StatusConflict, err.Error()
	case fault.KindOf(err) == fault.Forbidden:
		status, msg = http.StatusForbidden, "account administration needs an administrator's token with scope "+access.AdminScope
	case fault.KindOf(err) == fault.Unavailable:
		status, msg = http.StatusServiceUnavailable, "the audit log is unavailable"
	case errors.Is(err, auth.ErrRole) || auth.IsInvalid(err):
		status, msg = http.StatusBadRequest, err.Error()
	default:
		h.cfg.Logger.Error("admin API", slog.String("error", err.Error()))
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// plain keeps of s, for the audit log, at most n characters of
// [A-Za-z0-9_-] (an id from a path, an error code from a provider).
func plain(s string, n int) string {
	out := make([]byte, 0, n)
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			out = append(out, c)
		}
	}
	return string(out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
