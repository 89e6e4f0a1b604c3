package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/server"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of Hestia",
		Long:  "Print the version of Hestia, the FHIR version it implements and the Go version it was built with.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := server.Version
			if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
				v = info.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "hestia %s (FHIR R4 4.0.1, %s %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if server.StoresInTheClear() {
				fmt.Fprintln(cmd.OutOrStdout(), "BENCHMARK BUILD (-tags benchplaintext): stores data IN THE CLEAR; never use it for real data")
			}
			return nil
		},
	}
}
