package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/server"
)

func patientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "patient",
		Short: "Data-subject operations on a patient",
	}
	cmd.AddCommand(eraseCmd())
	return cmd
}

func eraseCmd() *cobra.Command {
	cfg := server.Defaults()
	var yes bool
	cmd := &cobra.Command{
		Use:   "erase PATIENT_ID",
		Short: "Erase a patient by crypto-shredding (GDPR Art. 17)",
		Long: `Erase a patient: the erasure is written to the erasure ledger, the index rows
of the patient's compartment are deleted, its resources are marked deleted,
the bodies sealed under the patient's data key are removed, and the data key
is destroyed. Nothing of the patient can be read or searched afterwards, not
even from a copy of the database taken before: the ledger (DATA/erasure.ledger,
which is not part of the database) is applied again to any database opened on
this data directory. Audit records are kept. This cannot be undone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return errors.New("erasure cannot be undone: add --yes to proceed")
			}
			return withNode(cmd, &cfg, func(n *server.Node) error {
				ctx := local(cmd)
				out, err := n.Engine.Erase(ctx, n.Ledger, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "erased Patient/%s: %d resources, %d versions; data key destroyed\n", out.Patient, out.Resources, out.Versions)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the erasure")
	return cmd
}
