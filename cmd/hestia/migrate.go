package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/server"
)

func migrateCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database's schema up to this version of Hestia",
		Long: `Apply the schema migrations this version of Hestia has and the database has
not, record the schema version in the audit log, then exit. Every command that opens the database migrates it too; run
this first to upgrade a PostgreSQL database that several nodes share before
starting them (nodes that start together are safe as well: migrations run
under a lock, once).

  hestia migrate --storage postgres://hestia@db.example.org/hestia`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, &cfg); err != nil {
				return err
			}
			cfg.AuditEcho = newLogger("info") // the migration is audited, on standard error
			v, err := server.Migrate(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema version %d (%s)\n", v, server.StorageName(cfg.Storage))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (the SQLite database)")
	keyFlags(cmd, &cfg)
	return cmd
}
