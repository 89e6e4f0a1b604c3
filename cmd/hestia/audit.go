package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/audit/checkpoint"
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
	var dataDir, checkpoints string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit log's Merkle tree from the stored records and check it",
		Long: `Recompute the audit log's Merkle tree (RFC 6962) from the records stored in the
data directory and check it against the stored tree and against every signed
checkpoint: those in the database and those held outside it (--checkpoints,
default the data directory's audit-checkpoints folder). It checks every record
present once and in order, every record hashing to its stored leaf, every
stored node equal to the one recomputed, nothing stored past the last record,
every checkpoint signed by the log's key and a prefix of the log with the root
it states. It needs no keys: the tree covers the records as stored (sealed),
and checkpoints are checked with the log's public verifier key.

It names the first bad record and exits with status 1 if the log was changed:
a record modified, removed, inserted or moved, the tail removed, or the
database rolled back to an earlier copy (a checkpoint is larger than the log).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			path := filepath.Join(dataDir, server.DatabaseFile)
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("no database in %s: %w", dataDir, err)
			}
			db, err := sqlite.Open(ctx, sqlite.Config{Path: path})
			if err != nil {
				return err
			}
			defer db.Close()
			cps, held, err := heldCheckpoints(cmd, db, dataDir, checkpoints)
			if err != nil {
				return err
			}
			rep, err := tlog.Verify(ctx, db.AuditLog, db.AuditNodes(), cps)
			var p *tlog.Problem
			if errors.As(err, &p) {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log BROKEN at record %d: %s\n", p.Index, p.Reason)
				return errors.New("the audit log does not verify")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log OK: %d records, root %x; %d checkpoints checked (%d held outside the database)\n", rep.Size, rep.Root, len(cps), held)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", server.Defaults().DataDir, "data directory")
	cmd.Flags().StringVar(&checkpoints, "checkpoints", "", "folder of checkpoints held outside the database (default DATA/"+server.CheckpointDir+")")
	return cmd
}

// heldCheckpoints opens the checkpoints stored in the database and in the
// folder, with the log's verifier key; it returns them and how many came
// from the folder.
func heldCheckpoints(cmd *cobra.Command, db *sqlite.DB, dataDir, folder string) ([]tlog.Checkpoint, int, error) {
	ctx := cmd.Context()
	origin, ok, err := db.Meta(ctx, "audit.origin")
	if err != nil || !ok {
		return nil, 0, err // a log that never issued a checkpoint
	}
	verifier, _, err := db.Meta(ctx, "audit.verifier")
	if err != nil {
		return nil, 0, err
	}
	notes, err := db.Checkpoints(ctx)
	if err != nil {
		return nil, 0, err
	}
	explicit := folder != ""
	if !explicit {
		folder = filepath.Join(dataDir, server.CheckpointDir)
	}
	outside, err := checkpoint.ReadFolder(folder)
	if err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)) {
		return nil, 0, err
	}
	cps, err := checkpoint.Open(append(notes, outside...), origin, verifier)
	if err != nil {
		return nil, 0, fmt.Errorf("a checkpoint does not open with the log's key %s: %w", verifier, err)
	}
	return cps, len(outside), nil
}
