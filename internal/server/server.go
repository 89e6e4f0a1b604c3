// Package server wires Hestia together and serves it: storage, engine,
// the FHIR REST API, TLS and the HTTP middleware (request ids, security
// headers, principal, panic recovery, access log).
//
// Invariants:
//   - TLS 1.2 or newer with AEAD cipher suites only; plain HTTP only on a
//     loopback address and only when asked for by name.
//   - The access log records method, route pattern, status, duration and
//     request id, never query strings or bodies (they may hold PHI).
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/checkpoint"
	"github.com/hestiahealth/hestia/internal/audit/journal"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/oauth"
	"github.com/hestiahealth/hestia/internal/privacy"
	"github.com/hestiahealth/hestia/internal/rest"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/web"
)

// Version is the software version, set at build time.
var Version = "dev"

// Node is an opened Hestia data directory: storage and engine. The CLI uses
// it directly (import); Server adds HTTP on top.
type Node struct {
	Dir    string // the data directory
	Engine *engine.Engine
	DB     Storage
	Log    *slog.Logger
	Keys   *crypt.Keyring // nil only in the benchmark-only plaintext build
	Ledger *privacy.Ledger

	// Checkpoints issues the audit log's signed checkpoints (nil in the
	// benchmark-only build without auditing); AuditID names the log.
	Checkpoints *checkpoint.Issuer
	AuditID     AuditIdentity

	// Policy is the access-control policy in force (reloaded by Serve).
	Policy *access.Holder

	// Accounts are the people who sign in (staff and patients).
	Accounts *auth.Accounts
	// sealer seals the authentication services' secrets: the keyring's
	// auth key (an in-memory key in the plaintext benchmark build).
	sealer authSealer

	journal *journal.Journal // the audit journal, if this process has it
	closed  sync.Once
	err     error
}

// LedgerFile is the erasure ledger inside a data directory. It is not part
// of the database, so restoring a database file does not restore it.
const LedgerFile = "erasure.ledger"

// DatabaseFile is the SQLite file inside a data directory.
const DatabaseFile = "hestia.db"

// OpenNode opens (creating if needed) the data directory.
func OpenNode(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	// Everything Hestia creates is for its own user only.
	restrictUmask()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if st, err := os.Stat(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	} else if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the data directory %s is accessible to other users (mode %v); chmod 700 it", cfg.DataDir, st.Mode().Perm())
	}
	db, err := openStorage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Node, error) {
		db.Close()
		return nil, err
	}
	reg, err := search.Default()
	if err != nil {
		return fail(err)
	}
	policy, err := access.LoadPolicy(cfg.Policy)
	if err != nil {
		return fail(err)
	}
	ecfg := engine.Config{
		Store:    db,
		Registry: reg,
		Policy:   policy,
		Logger:   log,
	}
	var keys *crypt.Keyring
	if plaintextBenchmark {
		log.Warn("BENCHMARK BUILD: resources and search indexes are stored IN THE CLEAR; never use this binary for real data")
	} else {
		if keys, err = openKeyring(ctx, cfg, db, log); err != nil {
			return fail(err)
		}
		db.SetCipher(keys)
		ecfg.Keys = keys
		ecfg.Encoder = search.Keyed{Form: keys.IndexForm, Forms: keys.IndexForms}
	}
	var jr *journal.Journal
	var issuer *checkpoint.Issuer
	var id AuditIdentity
	if noAuditBenchmark {
		log.Warn("BENCHMARK BUILD: NOTHING IS AUDITED; never use this binary for real data")
		ecfg.Audit = audit.Log{}
	} else {
		if issuer, id, err = openCheckpoints(ctx, cfg, db, keys, log); err != nil {
			return fail(err)
		}
		if ecfg.Audit, jr, err = openAudit(cfg, db, keys, id.Origin, log); err != nil {
			return fail(err)
		}
	}
	fail = func(err error) (*Node, error) {
		if jr != nil {
			jr.Close()
		}
		db.Close()
		return nil, err
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		return fail(err)
	}
	if id.rollback != "" {
		if err := eng.Configured(access.WithPrincipal(ctx, access.Local()), id.rollback); err != nil {
			return fail(err)
		}
	}
	if issuer != nil {
		ac := engine.AuditConfig{Log: db, Checkpoints: issuer}
		if keys != nil {
			ac.Keys = keys
		}
		eng.SetAuditLog(ac)
	}
	if err := ensurePrefixLen(access.WithPrincipal(ctx, access.Local()), eng, db, ecfg.Encoder, log); err != nil {
		return fail(err)
	}
	// Erasures are applied again to a database restored from before them.
	ledger := privacy.OpenLedger(filepath.Join(cfg.DataDir, LedgerFile))
	entries, err := ledger.Entries()
	if err != nil {
		return fail(err)
	}
	patients := make([]string, len(entries))
	for i, e := range entries {
		patients[i] = e.Patient
	}
	again, err := eng.ReapplyErasures(access.WithPrincipal(ctx, access.Local()), patients)
	if err != nil {
		return fail(fmt.Errorf("apply the erasure ledger: %w", err))
	}
	if len(again) > 0 {
		log.Warn("erasures applied again to this database (it was restored from before them)", slog.Int("patients", len(again)))
	}
	sealer, err := newAuthSealer(keys)
	if err != nil {
		return fail(err)
	}
	accounts := auth.New(auth.Config{Store: db, Sealer: sealer, NoMFARoles: cfg.NoMFARoles})
	return &Node{Dir: cfg.DataDir, Engine: eng, DB: db, Log: log, Keys: keys, Ledger: ledger, journal: jr, Accounts: accounts, sealer: sealer,
		Checkpoints: issuer, AuditID: id, Policy: policy}, nil
}

// policyPoll is how often the policy file is checked for changes.
const policyPoll = 2 * time.Second

// watchPolicy reloads the policy file each interval until ctx ends.
func (s *Server) watchPolicy(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		if changed, err := s.node.Policy.Reload(); changed || err != nil {
			s.policyReloaded(s.node.Policy.Rules(), err)
		}
	})
}

// policyReloaded audits a reload of the policy file (a configuration
// change), or logs why an edited file was refused (the policy in force
// stays).
func (s *Server) policyReloaded(r *access.Rules, err error) {
	ctx := access.WithPrincipal(context.Background(), access.Local())
	if err != nil {
		s.log.Error("the edited policy file is refused; the policy in force stays", slog.String("error", err.Error()))
		if aerr := s.node.Engine.Configured(ctx, "policy_refused="+policyName(s.cfg.Policy)); aerr != nil {
			s.log.Error("audit a refused policy", slog.String("error", aerr.Error()))
		}
		return
	}
	s.log.Info("policy reloaded", slog.String("digest", r.Digest()))
	if aerr := s.node.Engine.Configured(ctx, "policy="+policyName(s.cfg.Policy)+"@"+r.Digest()); aerr != nil {
		s.log.Error("audit a policy reload", slog.String("error", aerr.Error()))
	}
}

// Close closes the database, and logs the data-key cache's counters
// (counts only).
func (n *Node) Close() error {
	n.closed.Do(func() { n.err = n.close() })
	return n.err
}

func (n *Node) close() error {
	if n.Keys != nil && n.Log != nil {
		st := n.Keys.Stats()
		n.Log.Info("data-key cache", slog.Int64("hits", st.CacheHits), slog.Int64("misses", st.CacheMisses),
			slog.Int64("kms_calls", st.KMSCalls), slog.Int("cached_keys", st.CachedKeys))
	}
	if n.Checkpoints != nil {
		if _, err := n.Checkpoints.Issue(context.Background()); err != nil {
			n.Log.Error("audit checkpoint", slog.String("error", err.Error()))
		}
	}
	if n.journal != nil {
		if err := n.journal.Close(); err != nil {
			n.Log.Error("audit journal close", slog.String("error", err.Error()))
		}
	}
	return n.DB.Close()
}

// Server is a running Hestia HTTP server.
type Server struct {
	cfg         Config
	node        *Node
	log         *slog.Logger
	http        *http.Server
	fingerprint string
	inFlight    chan struct{}
	bodies      *semaphore.Weighted
	// Host header policy (see hostAllowed).
	baseHost     string
	loopbackOnly bool
	auth         *oauth.Server
	failures     *failureLimiter // audit records of authentication failures, per address
	proxies      []netip.Prefix  // trusted reverse proxies (X-Forwarded-For)
}

// New prepares a server on an opened node.
func New(cfg Config, node *Node) (*Server, error) {
	rcfg := rest.Config{Engine: node.Engine, BaseURL: cfg.BaseURL, MaxBody: cfg.MaxBody, Logger: node.Log, Version: Version}
	if node.Keys != nil {
		rcfg.Cursors = node.Keys.CursorSealer()
	}
	api, err := rest.New(rcfg)
	if err != nil {
		return nil, err
	}
	proxies, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	failures := newFailureLimiter(time.Now)
	auth, err := openOAuth(context.Background(), cfg, node, failures)
	if err != nil {
		return nil, err
	}
	if noAuthBenchmark {
		node.Log.Warn("BENCHMARK BUILD: NO ACCESS TOKEN IS CHECKED; never use this binary for real data")
	}
	s := &Server{cfg: cfg, node: node, log: node.Log, auth: auth, failures: failures, proxies: proxies,
		inFlight: make(chan struct{}, cfg.MaxInFlight), bodies: semaphore.NewWeighted(cfg.BodyBudget)}
	external, err := cfg.external()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	pages := web.New(web.Config{
		External:      external,
		Accounts:      node.Accounts,
		OAuth:         auth,
		Audit:         node.Engine,
		PatientExists: node.patientExists,
		Administer:    node.Engine.AdministerRecorded,
		InsecureHTTP:  cfg.InsecureHTTP,
		IdleTimeout:   cfg.SessionIdle,
		Logger:        node.Log,
	})
	pages.Routes(mux)
	pages.AdminRoutes(mux)
	mux.Handle("/oauth2/", auth.Handler())
	mux.Handle(oauth.SMARTConfig, auth.Handler())
	mux.Handle(oauth.OIDCConfig, auth.Handler())
	mux.Handle("/", api.Routes())
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("base URL %q: no host", cfg.BaseURL)
		}
		s.baseHost = u.Host
	} else if h, _, err := net.SplitHostPort(cfg.Listen); err == nil {
		s.loopbackOnly = isLoopback(h)
	}
	s.http = &http.Server{
		Handler:           s.middleware(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // large transaction bundles on slow links
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(node.Log.Handler(), slog.LevelWarn),
	}
	if !cfg.InsecureHTTP {
		tc, fp, err := tlsConfig(cfg, node.Log)
		if err != nil {
			return nil, err
		}
		s.http.TLSConfig = tc
		s.fingerprint = fp
	}
	return s, nil
}

// Fingerprint is the SHA-256 fingerprint of the server certificate.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Serve listens and serves until ctx is cancelled, then shuts down
// gracefully. ready, if not nil, is called with the bound address.
func (s *Server) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if s.cfg.PprofListen != "" {
		go s.servePprof(ctx)
	}
	if err := s.node.Engine.Configured(access.WithPrincipal(ctx, access.Local()), s.cfg.auditSummary(s.node)); err != nil {
		return fmt.Errorf("audit the configuration: %w", err)
	}
	actx, stopAuth := context.WithCancel(ctx)
	defer stopAuth()
	go s.auth.Run(actx)
	go s.flushFailures(actx)
	go s.watchPolicy(actx, policyPoll)
	if is := s.node.Checkpoints; is != nil {
		done := make(chan struct{})
		cctx, stop := context.WithCancel(ctx)
		go func() { is.Run(cctx); close(done) }()
		defer func() { stop(); <-done }()
	}
	if s.cfg.BaseURL == "" {
		// Tokens name their issuer: without a configured base URL it is
		// the address listened on.
		scheme := "https://"
		if s.http.TLSConfig == nil {
			scheme = "http://"
		}
		s.auth.SetIssuer(scheme + ln.Addr().String())
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if s.http.TLSConfig != nil {
			errc <- s.http.ServeTLS(ln, "", "") // the certificate is in TLSConfig
		} else {
			errc <- s.http.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Failures counted but not yet recorded are recorded before the log
	// closes.
	s.recordSuppressed(context.Background(), s.failures.drain())
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) servePprof(ctx context.Context) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: s.cfg.PprofListen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	s.log.Warn("profiling endpoint enabled", slog.String("listen", s.cfg.PprofListen))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("profiling endpoint", slog.String("error", err.Error()))
	}
}

// tlsConfig loads the configured certificate or creates a self-signed one.
func tlsConfig(cfg Config, log *slog.Logger) (*tls.Config, string, error) {
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" {
		dir := filepath.Join(cfg.DataDir, "tls")
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, "", fmt.Errorf("tls directory: %w", err)
			}
			certPEM, keyPEM, err := crypt.SelfSignedCert([]string{"localhost", "127.0.0.1", "::1"}, time.Now())
			if err != nil {
				return nil, "", err
			}
			if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
				return nil, "", fmt.Errorf("write TLS key: %w", err)
			}
			if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
				return nil, "", fmt.Errorf("write TLS certificate: %w", err)
			}
			log.Warn("created a self-signed TLS certificate for localhost; use --tls-cert and --tls-key in production", slog.String("cert", certFile))
		}
	}
	if st, err := os.Stat(keyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("the TLS key %s is readable by other users; chmod 600 it", keyFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", fmt.Errorf("load TLS certificate: %w", err)
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// TLS 1.2: forward-secret AEAD suites only. TLS 1.3 suites are all
		// AEAD and not configurable.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
	return tc, crypt.Fingerprint(cert.Certificate[0]), nil
}

// Handler is the server's HTTP handler with its middleware, for tests and
// embedding.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// prefixLenKey is the meta entry that records search.PrefixLen of the
// stored string index rows.
const prefixLenKey = "string_prefix_len"

// ensurePrefixLen re-indexes a database whose string index rows were
// written with another prefix length than this binary's (an older
// version's), before anything searches it, and records the length.
func ensurePrefixLen(ctx context.Context, eng *engine.Engine, db Storage, enc search.Encoder, log *slog.Logger) error {
	want := strconv.Itoa(search.PrefixLen)
	have, ok, err := db.Meta(ctx, prefixLenKey)
	if err != nil {
		return err
	}
	if ok && have != want {
		if enc == nil {
			enc = search.Plain
		}
		log.Warn("re-indexing strings for a new prefix length", slog.String("from", have), slog.String("to", want))
		n, err := eng.Administer(ctx, access.Reindex, func() (int, error) { return db.Reindex(ctx, enc.EncodeIndex, nil) })
		if err != nil {
			return fmt.Errorf("re-index strings for prefix length %s: %w", want, err)
		}
		log.Info("re-indexed strings", slog.Int("resources", n))
	}
	if ok && have == want {
		return nil
	}
	return db.SetMeta(ctx, prefixLenKey, want)
}
