package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/server"
)

func keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Show and rotate the encryption keys",
		Long: `Show and rotate the keys that protect the data at rest.

The key-encryption key (KEK) lives in the KMS (--kms; the local KMS keeps it
in DATA/keys/kek.json under the master key). It wraps one data key per
patient compartment and one for the tenant, the blind-index key, the audit,
backup and paging-cursor keys; those are stored wrapped in the database.

Every command works while the server runs on the same data directory.`,
	}
	cmd.AddCommand(keysStatusCmd(), keysRotateCmd())
	return cmd
}

// withNode opens the data directory and runs fn with the keyring.
func withNode(cmd *cobra.Command, cfg *server.Config, fn func(n *server.Node) error) error {
	if err := applyEnv(cmd, cfg); err != nil {
		return err
	}
	cfg.AuditEcho = newLogger("info") // what it does is audited, on standard error
	node, err := server.OpenNode(cmd.Context(), *cfg, newLogger("warn"))
	if err != nil {
		return err
	}
	defer node.Close()
	if node.Keys == nil {
		return fmt.Errorf("this build stores data in the clear and has no keys")
	}
	return fn(node)
}

func keysStatusCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the keys, their ages and what is pending",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withNode(cmd, &cfg, func(n *server.Node) error {
				infos, err := n.Keys.Keys(cmd.Context())
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				kms := cfg.KMS
				if kms == "" || kms == "local" {
					kms = "local (DATA/keys/kek.json)"
				}
				fmt.Fprintf(out, "KEK: %s\n", kms)
				writeKeyTable(out, infos)
				phase, changed, err := n.Keys.IndexRotation(cmd.Context())
				if err != nil {
					return err
				}
				if phase != crypt.IndexSteady {
					fmt.Fprintf(out, "index key rotation pending since %s: %s; run `hestia keys rotate index` to finish it\n",
						changed.Format(time.RFC3339), phase)
				}
				stats := n.Keys.Stats()
				fmt.Fprintf(out, "data-key cache: %d keys, %d hits, %d misses, %d KMS calls in this process\n",
					stats.CachedKeys, stats.CacheHits, stats.CacheMisses, stats.KMSCalls)
				entries, err := n.Ledger.Entries()
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "erasure ledger: %d patients\n", len(entries))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	return cmd
}

func writeKeyTable(out io.Writer, infos []crypt.KeyInfo) {
	var deks, pending int
	var oldest time.Time
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVERSIONS\tCREATED\tLAST ROTATED")
	for _, k := range infos {
		if strings.HasPrefix(k.Name, "dek:") {
			deks++
			if k.Keys > 1 {
				pending++
			}
			if oldest.IsZero() || k.Updated.Before(oldest) {
				oldest = k.Updated
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", k.Name, k.Keys, k.Created.Format(time.RFC3339), k.Updated.Format(time.RFC3339))
	}
	tw.Flush()
	fmt.Fprintf(out, "data keys: %d (one per patient compartment and the tenant); oldest rotation %s; %d hold older keys awaiting re-encryption\n",
		deks, oldest.Format(time.RFC3339), pending)
}

func keysRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the KEK, the data keys, the blind-index key or the token-signing key",
	}
	cmd.AddCommand(rotateKEKCmd(), rotateDEKCmd(), rotateIndexCmd(), rotateSigningCmd())
	return cmd
}

func rotateKEKCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "kek",
		Short: "Rotate the key-encryption key and re-wrap every key with it",
		Long: `Rotate the key-encryption key and re-wrap every stored key with it.

With the local KMS, a new primary key is added to DATA/keys/kek.json (the
older key stays in the keyset, so nothing becomes unreadable, and a running
server picks up the new one). With AWS KMS, rotate the key in AWS KMS first
(or enable automatic rotation); this command then re-wraps every key under
the KMS key's current version. Data is not re-encrypted: only the small
wrapped keys change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, &cfg); err != nil {
				return err
			}
			if cfg.KMS == "" || cfg.KMS == "local" {
				if _, err := server.KEK(cmd.Context(), cfg, newLogger("warn"), true); err != nil {
					return err
				}
			}
			return withNode(cmd, &cfg, func(n *server.Node) error {
				start := time.Now()
				count, err := n.Engine.Administer(local(cmd), access.KeyRotation, func() (int, error) {
					return n.Keys.Rewrap(cmd.Context(), progress(cmd, "re-wrapping keys"))
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "re-wrapped %d keys under the new KEK in %.2f s\n", count, time.Since(start).Seconds())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	return cmd
}

func rotateDEKCmd() *cobra.Command {
	cfg := server.Defaults()
	var reencrypt bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "dek",
		Short: "Give every data key a new version; with --reencrypt, move the data to it",
		Long: `Give every data key (one per patient compartment, and the tenant's) a new
primary version. New writes use it: at once in this process, and in a running
server once its key cache refreshes (at most a minute).

With --reencrypt, the command then waits --wait (longer than the servers'
key cache lifetime, so that none writes with an older version any more),
seals every stored body and index key list again with the new versions,
showing progress, and finally destroys the older versions. Requests go on
throughout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withNode(cmd, &cfg, func(n *server.Node) error {
				out := cmd.OutOrStdout()
				count, err := n.Engine.Administer(local(cmd), access.KeyRotation, func() (int, error) {
					return n.Keys.RotateDataKeys(cmd.Context(), progress(cmd, "rotating data keys"))
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%d data keys have a new version\n", count)
				if !reencrypt {
					return nil
				}
				if wait > 0 {
					fmt.Fprintf(out, "waiting %s for running servers to use the new versions\n", wait)
					select {
					case <-time.After(wait):
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					}
				}
				start := time.Now()
				ctx := cmd.Context()
				var retired int
				resealed, err := n.Engine.Administer(local(cmd), access.KeyRotation, func() (resealed int, err error) {
					resealed, retired, err = n.Reencrypt(ctx, progress(cmd, "re-encrypting"))
					return resealed, err
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "re-encrypted %d bodies and key lists in %.1f s; older versions destroyed in %d data keys\n",
					resealed, time.Since(start).Seconds(), retired)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	f.BoolVar(&reencrypt, "reencrypt", false, "re-encrypt stored data with the new versions and destroy the old ones")
	f.DurationVar(&wait, "wait", 65*time.Second, "with --reencrypt: how long running servers need to pick up the new versions")
	return cmd
}

// local is the command's context, acting as the local operator.
func local(cmd *cobra.Command) context.Context {
	return access.WithPrincipal(cmd.Context(), access.Local())
}

// progress reports progress on standard error, at most every half second.
func progress(cmd *cobra.Command, what string) func(done, total int) {
	var last time.Time
	return func(done, total int) {
		if done < total && time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d/%d\n", what, done, total)
	}
}

func rotateSigningCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "signing",
		Short: "Make a new key sign the OAuth access tokens",
		Long: `Make a new ES256 key sign the access tokens. Running servers take it within
30 seconds; the previous key stays published in the JWKS, so tokens it signed
keep working until they expire. The key before it is dropped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withData(cmd, &cfg, func(n *server.Node) error {
				if _, err := n.Engine.Administer(local(cmd), access.KeyRotation, func() (int, error) {
					return 1, n.RotateSigningKey(cmd.Context())
				}); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "a new key signs access tokens; the previous one stays published until its tokens expire")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	return cmd
}

func rotateIndexCmd() *cobra.Command {
	cfg := server.Defaults()
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Rebuild the blind indexes under a new index key, online",
		Long: `Rebuild the blind indexes (the keyed HMACs that token, string and uri
search values are stored as) under a new index key, while requests and
searches go on. The rotation goes in steps, each recorded in the stored
index key, so that an interrupted run resumes where it stopped:

 1. A new key is added. Searches look up the forms under both keys.
 2. After --wait (longer than the servers' key cache lifetime, so that every
    running server looks up both), the new key becomes the one rows are
    written with.
 3. After --wait again (so that no server writes under the old key), every
    resource's index rows are rebuilt under the new key, with progress.
 4. The old key is destroyed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withNode(cmd, &cfg, func(n *server.Node) error {
				out := cmd.OutOrStdout()
				start := time.Now()
				count, err := n.Engine.Administer(local(cmd), access.KeyRotation, func() (int, error) {
					return n.RotateIndex(cmd.Context(), wait, func(s string) { fmt.Fprintln(out, s) },
						progress(cmd, "rebuilding the blind indexes"))
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "rebuilt the index rows of %d resources under the new key in %.1f s\n", count, time.Since(start).Seconds())
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	f.DurationVar(&wait, "wait", 65*time.Second, "how long running servers need to pick up a changed key")
	return cmd
}
