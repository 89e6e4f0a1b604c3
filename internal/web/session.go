package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// session is a browser's sign-in state, kept on the server; the cookie
// holds only its random id.
type session struct {
	mu      sync.Mutex // held for a whole request of the session (Handler.locked)
	id      string
	csrf    string
	userID  string    // set once the password is checked
	mfaDone bool      // the second factor was checked (or just enrolled)
	amr     []string  // how: RFC 8176 methods (pwd, otp, hwk, mfa …)
	done    bool      // signed in: every step passed
	doneFor string    // the account it was completed for
	at      time.Time // when sign-in completed
	next    string    // where to go once signed in (a local path)
	// recovery holds fresh recovery codes until the page that shows them
	// once.
	recovery []string
	// external is a sign-in sent to the external provider.
	external *externalState
	// ceremony is a passkey registration or assertion in progress, of
	// ceremonyKind ("register", "login").
	ceremony     *webauthn.SessionData
	ceremonyKind string
	created      time.Time
	seen         time.Time
}

// sessions is the server-side session table. A session dies after idle
// time without a request (HIPAA automatic logoff) or absolute time after
// it began, whichever comes first; sign-out removes it at once.
type sessions struct {
	mu       sync.Mutex
	m        map[[32]byte]*session // by digest of the id
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
}

const maxSessions = 100000

func newSessions(idle, absolute time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, idle: idle, absolute: absolute, now: now}
}

// get returns the live session of id and marks it used.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := crypt.Digest(id)
	se := s.m[k]
	if se == nil {
		return nil
	}
	now := s.now()
	if now.Sub(se.seen) > s.idle || now.Sub(se.created) > s.absolute {
		delete(s.m, k)
		return nil
	}
	se.seen = now
	return se
}

// start begins a new anonymous session.
func (s *sessions) start() *session {
	now := s.now()
	se := &session{id: crypt.RandomToken(32), csrf: crypt.RandomToken(32), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.pruneLocked()
	}
	s.m[crypt.Digest(se.id)] = se
	return se
}

// rotate gives a session a new id and CSRF token (at each step up in
// privilege: session fixation cannot carry over), keeping its state.
func (s *sessions) rotate(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, crypt.Digest(se.id))
	se.id, se.csrf = crypt.RandomToken(32), crypt.RandomToken(32)
	s.m[crypt.Digest(se.id)] = se
}

// end removes a session (sign-out).
func (s *sessions) end(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, crypt.Digest(se.id))
}

func (s *sessions) pruneLocked() {
	now := s.now()
	for k, se := range s.m {
		if now.Sub(se.seen) > s.idle || now.Sub(se.created) > s.absolute {
			delete(s.m, k)
		}
	}
	if len(s.m) >= maxSessions {
		// Under a flood of new sessions, anonymous ones go first.
		for k, se := range s.m {
			if se.userID == "" {
				delete(s.m, k)
			}
		}
	}
}

// cookie is the session cookie: Secure and __Host- prefixed over TLS,
// HttpOnly, SameSite=Lax (the app's redirect to the authorization
// endpoint is a top-level navigation from another site).
func (h *Handler) cookie(value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: "hestia_session", Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: maxAge}
	if !h.cfg.InsecureHTTP {
		c.Name, c.Secure = "__Host-hestia_session", true
	}
	return c
}

// session returns the request's live session, or nil.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(h.cookie("", 0).Name)
	if err != nil {
		return nil
	}
	return h.sessions.get(c.Value)
}

// setSession sends the session cookie (a session cookie for the browser:
// the server decides when it ends).
func (h *Handler) setSession(w http.ResponseWriter, se *session) {
	http.SetCookie(w, h.cookie(se.id, 0))
}

func (h *Handler) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, h.cookie("", -1))
}

// checkCSRF compares a form's CSRF token with the session's in constant
// time.
func checkCSRF(r *http.Request, se *session) bool {
	got := r.PostFormValue("csrf")
	return se != nil && got != "" && crypt.TokenMatches(crypt.HashToken([]byte(se.csrf)), []byte(got))
}
