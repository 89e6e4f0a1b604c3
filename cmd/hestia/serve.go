package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/server"
)

func serveCmd() *cobra.Command {
	cfg := server.Defaults()
	var logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the FHIR server",
		Long: `Run the FHIR R4 server on the embedded SQLite database in the data directory.

The server speaks HTTPS from the first start: without --tls-cert and --tls-key
it creates a self-signed certificate for localhost in DATA/tls and prints its
SHA-256 fingerprint, so clients can pin it. TLS 1.2 is the minimum version.
Plain HTTP needs --insecure-http and is refused on non-loopback addresses.

Data is encrypted at rest under keys wrapped by a key-encryption key in a
KMS (--kms): "local" (the default) keeps it in DATA/keys/kek.json, encrypted
by a master key from HESTIA_MASTER_KEY (hex or base64), HESTIA_MASTER_KEY_FILE
or HESTIA_MASTER_PASSPHRASE; with none of them, the first start generates one
into HESTIA_KEY_DIR (default ~/.config/hestia) and warns. An AWS KMS key is
named by its URI, aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID, with
credentials from the usual AWS settings. See hestia keys --help.

Every flag can also be given as an environment variable: HESTIA_DATA,
HESTIA_LISTEN, HESTIA_TLS_CERT, HESTIA_TLS_KEY, HESTIA_BASE_URL,
HESTIA_MAX_BODY, HESTIA_INSECURE_HTTP, HESTIA_SQLITE_SYNCHRONOUS,
HESTIA_BATCH_WINDOW, HESTIA_PPROF_LISTEN, HESTIA_KMS, HESTIA_KMS_ENDPOINT,
HESTIA_KEY_CACHE, HESTIA_ACCESS_TOKEN_TTL, HESTIA_SESSION_IDLE,
HESTIA_NO_MFA_ROLES, HESTIA_TRUSTED_PROXIES (reverse proxies whose
X-Forwarded-For names the client: addresses or CIDR prefixes, comma-separated;
default none). Flags win over the environment.

Staff may sign in through an external OpenID Connect provider, set by the
environment only: HESTIA_OIDC_ISSUER, HESTIA_OIDC_CLIENT_ID,
HESTIA_OIDC_CLIENT_SECRET (register BASE/signin/external/callback as its
redirect URI), HESTIA_OIDC_ROLES (the provider's roles or groups mapped to
staff roles: value=role,value=role), HESTIA_OIDC_ROLE_CLAIM (default roles),
HESTIA_OIDC_NAME, HESTIA_OIDC_SCOPES, HESTIA_OIDC_TRUST_MFA, HESTIA_OIDC_CA.
The master key is taken from the environment only, never from a flag.

Every FHIR request needs an access token (Authorization: Bearer) from the
server's OAuth 2.0 token endpoint, /oauth2/token; register client
applications with hestia client add. Only /metadata, the OAuth endpoints and
/.well-known/smart-configuration, and the audit log's checkpoint and proofs
are public. Tokens name the server as issuer: set --base-url to the URL
clients use (default: https:// and the address listened on).`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, &cfg); err != nil {
				return err
			}
			return cfg.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(logLevel)
			node, err := server.OpenNode(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer node.Close()
			out := cmd.OutOrStdout()
			first, otp, err := node.Init(cmd.Context(), "")
			if err != nil {
				return err
			}
			srv, err := server.New(cfg, node)
			if err != nil {
				return err
			}
			return srv.Serve(cmd.Context(), func(addr net.Addr) {
				scheme := "https"
				if cfg.InsecureHTTP {
					scheme = "http"
				}
				fmt.Fprintf(out, "Hestia %s serving FHIR R4 at %s://%s/ (data: %s)\n", server.Version, scheme, addr, cfg.DataDir)
				if fp := srv.Fingerprint(); fp != "" {
					fmt.Fprintf(out, "TLS certificate SHA-256 fingerprint: %s\n", fp)
				}
				if first != nil {
					fmt.Fprintf(out, "First administrator created. Sign in at %s://%s/signin to change the password and enrol MFA:\n", scheme, addr)
					printCredentials(out, first.Username, otp)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (database, TLS certificate)")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate file (default: self-signed in DATA/tls)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file")
	f.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP (loopback addresses only)")
	f.StringVar(&cfg.Policy, "policy", cfg.Policy, "access-control policy file (JSON, docs/access.md; reloaded when it changes); default: built in")
	f.StringVar(&cfg.BaseURL, "base-url", "", "external base URL of the API and issuer of its tokens (default: from each request; tokens: https:// and the listen address)")
	f.Int64Var(&cfg.MaxBody, "max-body", cfg.MaxBody, "largest request body in bytes")
	f.IntVar(&cfg.StorageConns, "storage-conns", 0, "PostgreSQL connections of this node (default 16)")
	f.StringVar(&cfg.Synchronous, "sqlite-synchronous", cfg.Synchronous, "SQLite durability: FULL or NORMAL")
	f.DurationVar(&cfg.BatchWindow, "batch-window", 0, "how long the database writer waits to group concurrent writes")
	f.DurationVar(&cfg.AccessTokenTTL, "access-token-ttl", cfg.AccessTokenTTL, "lifetime of access tokens")
	f.DurationVar(&cfg.SessionIdle, "session-idle", cfg.SessionIdle, "sign-in sessions end after this long without a request")
	f.StringVar(&cfg.PprofListen, "pprof-listen", "", "serve Go profiling on this loopback address (performance work only)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	keyFlags(cmd, &cfg)
	f.IntVar(&cfg.KeyCacheSize, "key-cache", cfg.KeyCacheSize, "unwrapped data keys kept in memory")
	return cmd
}

// keyFlags adds the flags that choose the KMS and the database, which
// every command that opens the data gives.
func keyFlags(cmd *cobra.Command, cfg *server.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.ConfigFile, "config", "", "file of HESTIA_* settings, one NAME=value per line, mode 600 (default $HESTIA_CONFIG); the environment and flags win over it")
	f.StringVar(&cfg.Storage, "storage", "", "database: sqlite (default, in the data directory) or a postgres:// URL (several nodes on one database; keep the password in PGPASSWORD or ~/.pgpass)")
	f.StringVar(&cfg.KMS, "kms", cfg.KMS, "KMS of the key-encryption key: local, or an aws-kms:// key URI")
	f.StringVar(&cfg.KMSEndpoint, "kms-endpoint", "", "AWS KMS endpoint URL (a private endpoint; default: the region's)")
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// applyEnv sets from HESTIA_* variables the settings whose flags were not
// given: flags win over the environment, which wins over defaults.
func applyEnv(cmd *cobra.Command, cfg *server.Config) error {
	flags := *cfg
	if err := cfg.FromEnv(); err != nil {
		return err
	}
	f := cmd.Flags()
	keep := map[string]func(){
		"data":               func() { cfg.DataDir = flags.DataDir },
		"listen":             func() { cfg.Listen = flags.Listen },
		"tls-cert":           func() { cfg.TLSCert = flags.TLSCert },
		"tls-key":            func() { cfg.TLSKey = flags.TLSKey },
		"insecure-http":      func() { cfg.InsecureHTTP = flags.InsecureHTTP },
		"base-url":           func() { cfg.BaseURL = flags.BaseURL },
		"max-body":           func() { cfg.MaxBody = flags.MaxBody },
		"sqlite-synchronous": func() { cfg.Synchronous = flags.Synchronous },
		"storage":            func() { cfg.Storage = flags.Storage },
		"storage-conns":      func() { cfg.StorageConns = flags.StorageConns },
		"batch-window":       func() { cfg.BatchWindow = flags.BatchWindow },
		"pprof-listen":       func() { cfg.PprofListen = flags.PprofListen },
		"kms":                func() { cfg.KMS = flags.KMS },
		"kms-endpoint":       func() { cfg.KMSEndpoint = flags.KMSEndpoint },
		"key-cache":          func() { cfg.KeyCacheSize = flags.KeyCacheSize },
		"access-token-ttl":   func() { cfg.AccessTokenTTL = flags.AccessTokenTTL },
		"session-idle":       func() { cfg.SessionIdle = flags.SessionIdle },
	}
	for name, restore := range keep {
		if f.Lookup(name) != nil && f.Changed(name) {
			restore()
		}
	}
	return nil
}
