// Command hestia is the Hestia FHIR server and its tools. This package only
// parses flags and configuration and wires the internal packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hestia:", err)
		os.Exit(1)
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hestia",
		Short: "Hestia: a privacy-first FHIR R4 server",
		Long: `Hestia is a FHIR R4 server for protected health information.

Run "hestia serve" to start the server on an embedded database, and
"hestia import" to load FHIR Bundles and NDJSON files into a data directory.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(serveCmd(), initCmd(), migrateCmd(), importCmd(), keysCmd(), patientCmd(), auditCmd(), userCmd(), clientCmd(), policyCmd(), versionCmd())
	return cmd
}
