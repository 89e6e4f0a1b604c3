package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/oauth"
)

// openOAuth opens the authorization server of a node.
func openOAuth(ctx context.Context, cfg Config, node *Node) (*oauth.Server, error) {
	var keys oauth.Keys = node.Keys
	if node.Keys == nil {
		// The benchmark-only plaintext build has no keyring: grants are
		// sealed under a key that lives in memory.
		s, err := crypt.NewSealer()
		if err != nil {
			return nil, err
		}
		keys = memSealer{s}
	}
	return oauth.New(ctx, oauth.Config{
		Issuer:         cfg.BaseURL,
		Store:          node.DB,
		Meta:           node.DB,
		Keys:           keys,
		Audit:          authAuditor{node},
		AccessTokenTTL: cfg.AccessTokenTTL,
	})
}

// authAuditor records the authorization server's events in the audit log.
type authAuditor struct{ node *Node }

func (a authAuditor) AuthEvent(ctx context.Context, ev oauth.Event) error {
	in := access.Token
	if ev.Action == "revoke" {
		in = access.TokenRevoke
	}
	return a.node.Engine.Authenticated(ctx, in, ev.Subject, ev.Client, strings.Join(ev.Scopes, " "), ev.Failure)
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
// documents, and the audit log's checkpoints and proofs (hashes only).
func public(path string) bool {
	switch {
	case path == "/metadata",
		path == "/.well-known/smart-configuration",
		strings.HasPrefix(path, "/oauth2/"),
		path == "/audit/checkpoint",
		strings.HasPrefix(path, "/audit/proof/"):
		return true
	}
	return false
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
			return &access.Principal{ID: c.Subject, Kind: kind, Address: addr, Client: c.Client, Scopes: c.Scopes}, true
		}
	}
	failure, challenge := "no_token", `Bearer realm="hestia"`
	if h != "" {
		failure, challenge = "invalid_token", `Bearer realm="hestia", error="invalid_token"`
	}
	if err := s.node.Engine.Authenticated(r.Context(), access.Authenticate, "", "", "", failure); err != nil {
		s.log.Error("audit an authentication failure", slog.String("request", id), slog.String("error", err.Error()))
	}
	w.Header().Set("WWW-Authenticate", challenge)
	reject(w, http.StatusUnauthorized, "login", "a valid access token is required (Authorization: Bearer)", id)
	return nil, false
}
