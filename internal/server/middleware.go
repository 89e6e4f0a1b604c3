package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/engine"
)

// middleware wraps the API: request id, principal, security headers,
// panic recovery and the access log, outermost first.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := crypt.RandomID(8)
		if len(s.proxies) > 0 {
			// Behind a trusted proxy the client is the one it names:
			// everything below sees its address.
			r = s.clientBehindProxy(r)
		}
		ctx := engine.WithRequestID(r.Context(), id)
		ctx = access.WithPrincipal(ctx, access.Anonymous(remoteAddr(r)))
		r = r.WithContext(ctx)

		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		rec := &statusRecorder{ResponseWriter: w}
		if !s.hostAllowed(r.Host) {
			// DNS rebinding: a web page whose name resolves to this
			// loopback server must not read it through the browser.
			reject(rec, http.StatusMisdirectedRequest, "processing", "unknown host", id)
			s.logRequest(r, id, rec, start)
			return
		}
		if p := r.URL.Path; p != "/" && (path.Clean(p) != p || strings.HasSuffix(p, "/")) {
			// Not a FHIR path. The mux would redirect to the cleaned path,
			// echoing the query (search values) in Location.
			reject(rec, http.StatusNotFound, "not-found", "no FHIR interaction at this path", id)
			s.logRequest(r, id, rec, start)
			return
		}
		// Admission: a bounded number of requests, and a bounded amount of
		// request body being processed at once.
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			busy(rec, id)
			s.logRequest(r, id, rec, start)
			return
		}
		if r.ContentLength != 0 {
			weight := s.cfg.MaxBody
			if r.ContentLength > 0 && r.ContentLength < weight {
				weight = r.ContentLength
			}
			if err := s.bodies.Acquire(ctx, weight); err != nil {
				busy(rec, id)
				s.logRequest(r, id, rec, start)
				return
			}
			defer s.bodies.Release(weight)
		}
		if noAuthBenchmark {
			r = r.WithContext(access.WithPrincipal(r.Context(), &access.Principal{ID: "benchmark", Kind: access.KindService,
				Address: remoteAddr(r), Client: "benchmark", Scopes: []string{"system/*.cruds"}}))
		} else if !public(r.URL.Path) {
			p, ok := s.authenticate(rec, r, id)
			if !ok {
				s.logRequest(r, id, rec, start)
				return
			}
			r = r.WithContext(access.WithPrincipal(r.Context(), p))
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", slog.String("request", id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				if !rec.wrote {
					rec.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
					rec.WriteHeader(http.StatusInternalServerError)
					rec.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":"internal error; quote request id ` + id + `"}]}`))
				}
			}
			s.logRequest(r, id, rec, start)
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) logRequest(r *http.Request, id string, rec *statusRecorder, start time.Time) {
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "http",
		slog.String("request", id),
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", time.Since(start)),
	)
}

// busy answers 429 with an OperationOutcome.
func busy(w http.ResponseWriter, id string) {
	w.Header().Set("Retry-After", "1")
	reject(w, http.StatusTooManyRequests, "throttled", "the server is busy; retry later", id)
}

// reject answers before the API with an OperationOutcome. msg is a fixed
// text, never request content.
func reject(w http.ResponseWriter, status int, code, msg, id string) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"` + code + `","diagnostics":"` + msg + ` (request id ` + id + `)"}]}`))
}

// hostAllowed checks the Host header. With a base URL, only its host is
// served. Without one, a server on a loopback address serves only loopback
// names; a server on another address serves any name (its TLS certificate
// names the hosts clients may trust).
func (s *Server) hostAllowed(host string) bool {
	if s.baseHost != "" {
		return strings.EqualFold(host, s.baseHost) || strings.EqualFold(hostOnly(host), s.baseHost)
	}
	if !s.loopbackOnly {
		return true
	}
	return isLoopback(hostOnly(host))
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// clientBehindProxy returns r with RemoteAddr set to the client that a
// trusted proxy forwarded it for: the right-most X-Forwarded-For address
// that is not a trusted proxy (addresses a client put further left are not
// believed). A request not from a trusted proxy is returned unchanged.
func (s *Server) clientBehindProxy(r *http.Request) *http.Request {
	peer := remoteAddr(r)
	if !s.trusted(peer) {
		return r
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return r // a malformed chain: the proxy's own address stands
		}
		a = a.Unmap()
		if !s.trusted(a) {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = netip.AddrPortFrom(a, 0).String()
			return r2
		}
	}
	return r
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
