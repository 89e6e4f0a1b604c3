package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/oauth"
	"github.com/hestiahealth/hestia/internal/server"
	"github.com/hestiahealth/hestia/internal/store"
)

func clientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Register, list and remove client applications (OAuth 2.0)",
		Long: `Register, list and remove the client applications that may ask the
server's token endpoint (/oauth2/token) for access tokens.

Kinds:
  --backend   a SMART Backend Service: client_credentials, authenticated by a
              JWT assertion signed with its private key (RS384 or ES384);
              register its public keys with --jwks-file or --jwks-url, or use
              --secret for a client secret (weaker: prefer keys)
  --public    an app that cannot keep a secret (browser, mobile): PKCE only
  (default)   a confidential app with a client secret

Scopes are SMART scopes the client may ask for (v1 or v2 syntax):
system/*.rs for backend services, patient/ or user/ scopes for apps.

Every command works while the server runs, and is audited.`,
	}
	cmd.AddCommand(clientAddCmd(), clientListCmd(), clientRemoveCmd())
	return cmd
}

func clientAddCmd() *cobra.Command {
	cfg := server.Defaults()
	var spec oauth.ClientSpec
	var backend, public bool
	var jwksFile string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Register a client and print its client_id (and secret, once)",
		Example: `  hestia client add --data DIR --name lab-sync --backend --jwks-file keys.json --scope "system/*.rs"
  hestia client add --data DIR --name ops --backend --secret --scope "system/Patient.rs system/Observation.rs"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case backend && public:
				return errors.New("a client is --backend or --public, not both")
			case backend:
				spec.Kind = oauth.Backend
			case public:
				spec.Kind = oauth.Public
			default:
				spec.Kind = oauth.Confidential
			}
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return err
				}
				spec.JWKS = b
			}
			return withData(cmd, &cfg, func(n *server.Node) error {
				var c *oauth.ClientInfo
				var secret string
				err := n.Engine.AdministerRecorded(access.WithPrincipal(cmd.Context(), access.Local()), access.ClientRegistration, "add kind="+spec.Kind,
					func(seal func(string) ([]byte, error)) error {
						var err error
						c, secret, err = oauth.Register(cmd.Context(), n.DB, spec, time.Now(), func(c *oauth.ClientInfo) ([]byte, error) {
							return seal("add client=" + c.ID + " kind=" + c.Kind + " scopes=" + strings.Join(c.Scopes, " "))
						})
						return err
					})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "client_id: %s\n", c.ID)
				if secret != "" {
					fmt.Fprintf(out, "client_secret: %s\n", secret)
					fmt.Fprintln(cmd.ErrOrStderr(), "The secret is shown this once; only its hash is stored.")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	f.StringVar(&spec.Name, "name", "", "the client's name (shown to users and in lists)")
	f.BoolVar(&backend, "backend", false, "a backend service (client_credentials)")
	f.BoolVar(&public, "public", false, "a public app (no secret; PKCE)")
	f.BoolVar(&spec.Secret, "secret", false, "a backend service authenticated by a client secret instead of keys")
	f.StringVar(&jwksFile, "jwks-file", "", "JWK Set of the backend service's public keys")
	f.StringVar(&spec.JWKSURL, "jwks-url", "", "https URL of the backend service's JWK Set")
	f.StringVar(&spec.Alg, "alg", "", "client assertion algorithm, RS384 or ES384 (default: from the keys)")
	f.StringArrayVar(&spec.RedirectURIs, "redirect-uri", nil, "redirect URI of an app (repeatable)")
	f.StringArrayVar(&spec.Scopes, "scope", nil, "scopes the client may ask for (space-separated, repeatable)")
	keyFlags(cmd, &cfg)
	return cmd
}

func clientListCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registered clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withData(cmd, &cfg, func(n *server.Node) error {
				cs, err := oauth.Clients(cmd.Context(), n.DB)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT ID\tNAME\tKIND\tAUTHENTICATION\tSCOPES\tREGISTERED")
				for _, c := range cs {
					authn := "none (PKCE)"
					switch {
					case c.SecretHash != nil:
						authn = "client secret"
					case c.JWKSURL != "":
						authn = "private_key_jwt " + c.Alg + " (keys by URL)"
					case len(c.JWKS) > 0:
						authn = "private_key_jwt " + c.Alg
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Kind, authn, strings.Join(c.Scopes, " "), c.Created.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	return cmd
}

func clientRemoveCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "remove CLIENT_ID",
		Short: "Remove a client; its tokens stop working (within 10 seconds on a running server)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withData(cmd, &cfg, func(n *server.Node) error {
				err := n.Engine.AdministerRecorded(access.WithPrincipal(cmd.Context(), access.Local()), access.ClientRegistration, "remove client="+args[0],
					func(seal func(string) ([]byte, error)) error {
						rec, err := seal("remove client=" + args[0])
						if err != nil {
							return err
						}
						var records [][]byte
						if rec != nil {
							records = append(records, rec)
						}
						return n.DB.RemoveClient(cmd.Context(), args[0], records...)
					})
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no client %s", args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed client %s\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	return cmd
}

// withData opens the data directory (any build) and runs fn.
func withData(cmd *cobra.Command, cfg *server.Config, fn func(n *server.Node) error) error {
	if err := applyEnv(cmd, cfg); err != nil {
		return err
	}
	cfg.AuditEcho = newLogger("info")
	node, err := server.OpenNode(cmd.Context(), *cfg, newLogger("warn"))
	if err != nil {
		return err
	}
	defer node.Close()
	return fn(node)
}
