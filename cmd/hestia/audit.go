package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/server"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the tamper-evident audit log",
	}
	cmd.AddCommand(auditVerifyCmd())
	return cmd
}

func auditVerifyCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit log's Merkle tree from the stored records and check it",
		Long: `Recompute the audit log's Merkle tree (RFC 6962) from the records stored in the
data directory and check it against the stored tree: every record present once
and in order, every record hashing to its stored leaf, every stored node equal
to the one recomputed, nothing stored past the last record. It needs no keys:
the tree covers the records as stored (sealed).

It names the first bad record and exits with status 1 if the log was changed:
a record modified, removed, inserted or moved, or the tail removed. Checking
signed checkpoints held outside the database (which also detects a database
rolled back to an earlier copy) comes with checkpoint issuance.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := filepath.Join(dataDir, server.DatabaseFile)
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("no database in %s: %w", dataDir, err)
			}
			db, err := sqlite.Open(cmd.Context(), sqlite.Config{Path: path})
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := tlog.Verify(cmd.Context(), db.AuditLog, db.AuditNodes(), nil)
			var p *tlog.Problem
			if errors.As(err, &p) {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log BROKEN at record %d: %s\n", p.Index, p.Reason)
				return errors.New("the audit log does not verify")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log OK: %d records, root %x\n", rep.Size, rep.Root)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", server.Defaults().DataDir, "data directory")
	return cmd
}
