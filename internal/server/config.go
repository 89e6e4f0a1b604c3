package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/hestiahealth/hestia/internal/auth"
)

// Config is every setting of the server, with safe defaults. Each field
// can be set by a flag of `hestia serve`, by the environment variable
// named in its comment, or by the same name in the configuration file
// (flags win over the environment, which wins over the file).
type Config struct {
	// ConfigFile is a file of HESTIA_* settings (ReadConfigFile), applied
	// under the environment: HESTIA_CONFIG, or --config.
	ConfigFile string
	// DataDir holds the database, the TLS certificate and keys. HESTIA_DATA.
	DataDir string
	// Listen is the address to listen on. HESTIA_LISTEN. Default 127.0.0.1:8443.
	Listen string
	// TLSCert and TLSKey are PEM files of a real certificate. Without them a
	// self-signed certificate for localhost is created in DataDir/tls.
	// HESTIA_TLS_CERT, HESTIA_TLS_KEY.
	TLSCert, TLSKey string
	// InsecureHTTP serves plain HTTP; refused unless Listen is a loopback
	// address. HESTIA_INSECURE_HTTP.
	InsecureHTTP bool
	// BaseURL is the external URL of the API, used in Location headers and
	// Bundle links. Default: derived from each request. HESTIA_BASE_URL.
	BaseURL string
	// MaxBody is the largest request body in bytes. HESTIA_MAX_BODY. Default 16 MiB.
	MaxBody int64
	// MaxInFlight caps the requests served at once; more are answered 429
	// at once rather than queued. Default 256.
	MaxInFlight int
	// BodyBudget caps the request bytes being processed at once, across
	// requests: a parsed body takes several times its size in memory.
	// Default 64 MiB (at least MaxBody).
	BodyBudget int64
	// Storage is the database: "sqlite" (the default: DataDir/hestia.db)
	// or a postgres:// URL, for several nodes on one PostgreSQL database.
	// HESTIA_STORAGE. Keep a password out of the URL (command lines are
	// visible to other users): use PGPASSWORD or ~/.pgpass.
	Storage string
	// StorageConns caps the PostgreSQL connection pool of this node.
	// HESTIA_STORAGE_CONNS. Default 16.
	StorageConns int
	// Synchronous is SQLite's durability: FULL (default) or NORMAL.
	// HESTIA_SQLITE_SYNCHRONOUS.
	Synchronous string
	// BatchWindow lets the database writer wait to gather concurrent writes
	// into one commit. HESTIA_BATCH_WINDOW. Default 0.
	BatchWindow time.Duration
	// NoMFARoles lists staff roles that may sign in without a second
	// factor (default none). HESTIA_NO_MFA_ROLES, comma-separated.
	NoMFARoles []string
	// SessionIdle ends a browser sign-in session after this long without
	// a request (HIPAA automatic logoff). HESTIA_SESSION_IDLE. Default 15
	// minutes.
	SessionIdle time.Duration
	// OIDCIssuer names an external OpenID Connect provider staff may sign
	// in with (HESTIA_OIDC_ISSUER); OIDCClientID and OIDCClientSecret are
	// Hestia's registration there (HESTIA_OIDC_CLIENT_ID, and
	// HESTIA_OIDC_CLIENT_SECRET from the environment only); the redirect
	// URI to register is BASE/signin/external/callback.
	OIDCIssuer, OIDCClientID, OIDCClientSecret string
	// Policy is the access-control policy file (HESTIA_POLICY): JSON, see
	// docs/access.md; reloaded when it changes. Empty: the built-in
	// default policy (internal/access/default-policy.json).
	Policy string
	// OIDCName is the provider's name on the sign-in page (HESTIA_OIDC_NAME).
	OIDCName string
	// OIDCRoleClaim is the ID-token claim holding roles or groups (default
	// "roles"; HESTIA_OIDC_ROLE_CLAIM); OIDCRoles maps its values to
	// Hestia's staff roles, "value=role,value=role" (HESTIA_OIDC_ROLES).
	// A user whose values map to no role cannot sign in.
	OIDCRoleClaim, OIDCRoles string
	// OIDCScopes are scopes to ask besides openid (HESTIA_OIDC_SCOPES,
	// space-separated).
	OIDCScopes string
	// OIDCTrustMFA accepts the provider's sign-in as multi-factor
	// (HESTIA_OIDC_TRUST_MFA=true); otherwise its users enrol a local
	// authenticator too.
	OIDCTrustMFA bool
	// OIDCCAFile is a PEM file of CA certificates to trust for the
	// provider (a private CA); default the system's. HESTIA_OIDC_CA.
	OIDCCAFile string
	// TrustedProxies lists the reverse proxies and load balancers in front
	// of the server (addresses or CIDR prefixes, comma-separated;
	// HESTIA_TRUSTED_PROXIES). A request from one of them is taken to come
	// from the right-most address of X-Forwarded-For that is not itself a
	// trusted proxy: audit records, throttling and limits see the client.
	// Default none: X-Forwarded-For is ignored.
	TrustedProxies string
	// AccessTokenTTL is the lifetime of access tokens. HESTIA_ACCESS_TOKEN_TTL.
	// Default 10 minutes.
	AccessTokenTTL time.Duration
	// ShutdownTimeout bounds graceful shutdown. Default 15s.
	ShutdownTimeout time.Duration
	// AuditOrigin names the audit log: the origin line of its signed
	// checkpoints and AuditEvent.source. HESTIA_AUDIT_ORIGIN. Default: the
	// base URL's host + "/audit", or HOSTNAME/hestia/audit.
	AuditOrigin string
	// AuditCheckpoints lists where signed checkpoints of the audit log are
	// written besides the database, comma-separated: folders, and https://
	// endpoints that receive each by POST, and s3://BUCKET/PREFIX (an
	// S3-compatible bucket; AWS credentials as usual; with Object Lock,
	// undeletable). HESTIA_AUDIT_CHECKPOINTS.
	// Default DataDir/audit-checkpoints (kept as well when only endpoints
	// are named: the check at start reads folders); production should
	// name storage that whoever can replace the database cannot rewrite.
	AuditCheckpoints string
	// AuditAcceptRollback lets a node open a database that does not extend
	// the newest audit checkpoint held (a backup restored on purpose): it
	// logs an error and records the rollback in the audit log, where the
	// divergence stays visible to hestia audit verify.
	// HESTIA_AUDIT_ACCEPT_ROLLBACK=true. Default false: such a database is
	// refused.
	AuditAcceptRollback bool
	// AuditS3Endpoint names an S3-compatible server for s3:// checkpoint
	// sinks (default AWS S3). HESTIA_AUDIT_S3_ENDPOINT.
	AuditS3Endpoint string
	// CheckpointEvery and CheckpointInterval: a checkpoint is issued after
	// this many new records (default 1,000) or this long with new records
	// (default 10s). HESTIA_CHECKPOINT_EVERY, HESTIA_CHECKPOINT_INTERVAL.
	CheckpointEvery    uint64
	CheckpointInterval time.Duration
	// AuditEcho, if set, also receives every audit event as a log line
	// (the command-line tools show what they did on standard error).
	AuditEcho *slog.Logger
	// PprofListen serves Go profiling on a loopback address for
	// performance work; empty (default) disables it. HESTIA_PPROF_LISTEN.
	PprofListen string

	// KMS holds the key-encryption key: "local" (default: a keyset file in
	// the data directory under the master key) or an AWS KMS key URI
	// (aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID). HESTIA_KMS.
	KMS string
	// KMSEndpoint overrides the AWS KMS endpoint (a private endpoint, or a
	// local KMS for tests). HESTIA_KMS_ENDPOINT.
	KMSEndpoint string
	// The master key of the local KMS, from the environment only (never a
	// flag): HESTIA_MASTER_KEY (32 bytes, hex or base64),
	// HESTIA_MASTER_KEY_FILE, or HESTIA_MASTER_PASSPHRASE (argon2id). With
	// none, a key is generated into KeyDir on first start.
	MasterKey, MasterKeyFile, MasterPassphrase string
	// KeyDir is where a generated master key lives, outside the data
	// directory. HESTIA_KEY_DIR. Default ~/.config/hestia.
	KeyDir string
	// KeyCacheSize bounds the unwrapped data keys kept in memory.
	// HESTIA_KEY_CACHE. Default 10,000.
	KeyCacheSize int

	kek    tink.AEAD     // tests: a KEK to use instead of the configured KMS
	keyTTL time.Duration // tests: how long a process uses a key before reading it again
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		DataDir:         "hestia-data",
		Listen:          "127.0.0.1:8443",
		MaxBody:         16 << 20,
		KMS:             "local",
		KeyCacheSize:    10000,
		MaxInFlight:     256,
		BodyBudget:      64 << 20,
		Synchronous:     "FULL",
		ShutdownTimeout: 15 * time.Second,
		AccessTokenTTL:  10 * time.Minute,
		SessionIdle:     15 * time.Minute,
	}
}

// FromEnv overrides c with the HESTIA_* settings that are set: in the
// environment, or else in the configuration file (c.ConfigFile, or the
// one HESTIA_CONFIG names; see ReadConfigFile).
func (c *Config) FromEnv() error {
	path := c.ConfigFile
	if path == "" {
		path = os.Getenv("HESTIA_CONFIG")
	}
	if path == "" {
		return c.from(os.LookupEnv)
	}
	file, err := ReadConfigFile(path)
	if err != nil {
		return err
	}
	asked := map[string]bool{}
	err = c.from(func(name string) (string, bool) {
		asked[name] = true
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		v, ok := file[name]
		return v, ok
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for name := range file {
		if !asked[name] {
			return fmt.Errorf("%s: unknown setting %s", path, name)
		}
	}
	return nil
}

// ReadConfigFile reads a configuration file: one HESTIA_NAME=value per
// line (the settings of the environment variables, same names), blank
// lines and # comments allowed, a value optionally in single or double
// quotes. It may hold secrets (a database URL with a password, the OIDC
// client secret), so it must be readable by its owner only.
func ReadConfigFile(path string) (map[string]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("configuration file %s is accessible to other users (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	out := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !strings.HasPrefix(name, "HESTIA_") || name == "HESTIA_CONFIG" {
			// The line is not quoted back: it may hold a secret.
			return nil, fmt.Errorf("configuration file %s, line %d: want HESTIA_NAME=value", path, n+1)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("configuration file %s, line %d: %s set twice", path, n+1, name)
		}
		out[name] = value
	}
	return out, nil
}

// from overrides c with the settings lookup finds.
func (c *Config) from(lookup func(string) (string, bool)) error {
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	boolean := func(name string, dst *bool) error {
		if v, ok := lookup(name); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			*dst = b
		}
		return nil
	}
	duration := func(name string, dst *time.Duration) error {
		if v, ok := lookup(name); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			*dst = d
		}
		return nil
	}
	str("HESTIA_DATA", &c.DataDir)
	str("HESTIA_LISTEN", &c.Listen)
	str("HESTIA_TLS_CERT", &c.TLSCert)
	str("HESTIA_TLS_KEY", &c.TLSKey)
	str("HESTIA_BASE_URL", &c.BaseURL)
	str("HESTIA_SQLITE_SYNCHRONOUS", &c.Synchronous)
	str("HESTIA_STORAGE", &c.Storage)
	if v, ok := lookup("HESTIA_STORAGE_CONNS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("HESTIA_STORAGE_CONNS: %w", err)
		}
		c.StorageConns = n
	}
	str("HESTIA_PPROF_LISTEN", &c.PprofListen)
	str("HESTIA_AUDIT_ORIGIN", &c.AuditOrigin)
	str("HESTIA_AUDIT_CHECKPOINTS", &c.AuditCheckpoints)
	str("HESTIA_AUDIT_S3_ENDPOINT", &c.AuditS3Endpoint)
	if v, ok := lookup("HESTIA_AUDIT_ACCEPT_ROLLBACK"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("HESTIA_AUDIT_ACCEPT_ROLLBACK: true or false, not %q", v)
		}
		c.AuditAcceptRollback = b
	}
	if v, ok := lookup("HESTIA_CHECKPOINT_EVERY"); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("HESTIA_CHECKPOINT_EVERY: a positive number of records, not %q", v)
		}
		c.CheckpointEvery = n
	}
	if v, ok := lookup("HESTIA_CHECKPOINT_INTERVAL"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("HESTIA_CHECKPOINT_INTERVAL: a duration such as 10s, not %q", v)
		}
		c.CheckpointInterval = d
	}
	str("HESTIA_KMS", &c.KMS)
	str("HESTIA_KMS_ENDPOINT", &c.KMSEndpoint)
	str("HESTIA_MASTER_KEY", &c.MasterKey)
	str("HESTIA_MASTER_KEY_FILE", &c.MasterKeyFile)
	str("HESTIA_MASTER_PASSPHRASE", &c.MasterPassphrase)
	str("HESTIA_KEY_DIR", &c.KeyDir)
	if v, ok := lookup("HESTIA_KEY_CACHE"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("HESTIA_KEY_CACHE: %w", err)
		}
		c.KeyCacheSize = n
	}
	if err := boolean("HESTIA_INSECURE_HTTP", &c.InsecureHTTP); err != nil {
		return err
	}
	if v, ok := lookup("HESTIA_MAX_BODY"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("HESTIA_MAX_BODY: %w", err)
		}
		c.MaxBody = n
	}
	if v, ok := lookup("HESTIA_NO_MFA_ROLES"); ok {
		c.NoMFARoles = nil
		for r := range strings.SplitSeq(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.NoMFARoles = append(c.NoMFARoles, r)
			}
		}
	}
	str("HESTIA_POLICY", &c.Policy)
	str("HESTIA_OIDC_ISSUER", &c.OIDCIssuer)
	str("HESTIA_OIDC_CLIENT_ID", &c.OIDCClientID)
	str("HESTIA_OIDC_CLIENT_SECRET", &c.OIDCClientSecret)
	str("HESTIA_OIDC_NAME", &c.OIDCName)
	str("HESTIA_OIDC_ROLE_CLAIM", &c.OIDCRoleClaim)
	str("HESTIA_OIDC_ROLES", &c.OIDCRoles)
	str("HESTIA_OIDC_SCOPES", &c.OIDCScopes)
	str("HESTIA_OIDC_CA", &c.OIDCCAFile)
	str("HESTIA_TRUSTED_PROXIES", &c.TrustedProxies)
	for _, err := range []error{
		boolean("HESTIA_OIDC_TRUST_MFA", &c.OIDCTrustMFA),
		duration("HESTIA_SESSION_IDLE", &c.SessionIdle),
		duration("HESTIA_ACCESS_TOKEN_TTL", &c.AccessTokenTTL),
		duration("HESTIA_BATCH_WINDOW", &c.BatchWindow),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// parsePrefixes parses a comma-separated list of addresses and CIDR
// prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q is not an address or a CIDR prefix", item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// oidcRoles parses OIDCRoles ("value=role,value=role"): staff roles only.
func (c *Config) oidcRoles() (map[string]string, error) {
	out := map[string]string{}
	for pair := range strings.SplitSeq(c.OIDCRoles, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		v, role, ok := strings.Cut(pair, "=")
		if !ok || v == "" || !slices.Contains(auth.StaffRoles, role) {
			return nil, fmt.Errorf("HESTIA_OIDC_ROLES: %q is not value=role with a staff role (%s)", pair, strings.Join(auth.StaffRoles, ", "))
		}
		out[v] = role
	}
	if len(out) == 0 {
		return nil, errors.New("HESTIA_OIDC_ROLES must map the provider's roles or groups to staff roles (value=role,…)")
	}
	return out, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("the data directory is required"))
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	if c.InsecureHTTP && err == nil && !isLoopback(host) {
		errs = append(errs, fmt.Errorf("--insecure-http serves patient data without TLS and is only allowed on a loopback address, not %q", host))
	}
	if c.InsecureHTTP && (c.TLSCert != "" || c.TLSKey != "") {
		errs = append(errs, errors.New("--insecure-http cannot be combined with a TLS certificate"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.MaxBody < 1024 {
		errs = append(errs, errors.New("the body limit must be at least 1024 bytes"))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, errors.New("at least one request must be allowed in flight"))
	}
	if c.BodyBudget < c.MaxBody {
		errs = append(errs, errors.New("the body budget must be at least the body limit"))
	}
	if c.Storage != "" && c.Storage != "sqlite" && !isPostgresURL(c.Storage) {
		errs = append(errs, errors.New("storage must be sqlite or a postgres:// URL"))
	}
	if c.StorageConns != 0 && c.StorageConns < 3 {
		errs = append(errs, errors.New("the storage connection pool needs at least 3 connections (one may hold the audit sequencer's lease)"))
	}
	switch strings.ToUpper(c.Synchronous) {
	case "FULL", "NORMAL":
	default:
		errs = append(errs, fmt.Errorf("synchronous must be FULL or NORMAL, not %q", c.Synchronous))
	}
	if c.PprofListen != "" {
		h, _, err := net.SplitHostPort(c.PprofListen)
		if err != nil || !isLoopback(h) {
			errs = append(errs, errors.New("the profiling listener must be on a loopback address"))
		}
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "https://") && !strings.HasPrefix(c.BaseURL, "http://") {
		errs = append(errs, errors.New("the base URL must start with https:// or http://"))
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.OIDCIssuer != "" {
		if c.OIDCClientID == "" || c.OIDCClientSecret == "" {
			errs = append(errs, errors.New("an external OpenID Connect provider needs HESTIA_OIDC_CLIENT_ID and HESTIA_OIDC_CLIENT_SECRET"))
		}
		if _, err := c.oidcRoles(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AuditOrigin != "" && !validOrigin(c.AuditOrigin) {
		errs = append(errs, errors.New("the audit origin must be one line of printable characters without spaces, such as example.org/hestia/audit"))
	}
	return errors.Join(errs...)
}

// validOrigin reports a checkpoint origin line: printable ASCII without
// spaces (C2SP tlog-checkpoint), at most 256 bytes.
func validOrigin(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func policyName(path string) string {
	if path == "" {
		return "default"
	}
	return path
}

// auditSummary is the configuration as the audit log records it at start:
// every setting that shapes security, none that is secret (the master key
// and passphrase are left out; URLs lose their credentials).
func (c Config) auditSummary(n *Node) string {
	tlsMode := "self-signed"
	switch {
	case c.InsecureHTTP:
		tlsMode = "off (loopback)"
	case c.TLSCert != "":
		tlsMode = "certificate " + c.TLSCert
	}
	kms := c.KMS
	if u, err := url.Parse(kms); err == nil && u.User != nil {
		kms = u.Redacted()
	}
	sinks, _ := checkpointSinks(context.Background(), c)
	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.String()
	}
	parts := []string{
		"version=" + Version,
		"listen=" + c.Listen,
		"tls=" + tlsMode,
		"base_url=" + c.BaseURL,
		"kms=" + kms,
		"audit_origin=" + n.AuditID.Origin,
		"policy=" + policyName(c.Policy) + "@" + n.Policy.Rules().Digest(),
		"audit_checkpoints=" + strings.Join(names, ","),
		"storage=" + StorageName(c.Storage),
		"synchronous=" + c.Synchronous,
		"max_body=" + strconv.FormatInt(c.MaxBody, 10),
		"max_in_flight=" + strconv.Itoa(c.MaxInFlight),
		"key_cache=" + strconv.Itoa(c.KeyCacheSize),
	}
	if c.PprofListen != "" {
		parts = append(parts, "pprof="+c.PprofListen)
	}
	return strings.Join(parts, " ")
}
