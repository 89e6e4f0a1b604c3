package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/access"
)

func policyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check or print the access-control policy",
		Long: `The access-control policy decides who may do what (docs/access.md). A server
uses the built-in default unless HESTIA_POLICY (or serve --policy) names a
JSON file, which it reloads when the file changes.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "check FILE",
		Short:   "Check a policy file before a server loads it",
		Args:    cobra.ExactArgs(1),
		Example: "  hestia policy check /etc/hestia/policy.json",
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := access.LoadPolicy(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (digest %s)\n", args[0], h.Rules().Digest())
			return nil
		},
	}, &cobra.Command{
		Use:   "default",
		Short: "Print the built-in default policy (a starting point for your own)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(access.DefaultPolicy)
			return err
		},
	})
	return cmd
}
