package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/auth"
	"github.com/hestiahealth/hestia/internal/server"
)

func userCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create accounts and reset their passwords",
		Long: `Create the accounts of people who sign in: staff (roles admin, clinician,
nurse, registration, billing, researcher, auditor) and patients (role
patient, with --patient naming their Patient resource).

A new account gets a one-time password, printed once, that must be changed
at the first sign-in; staff then enrol a second factor (an authenticator
app), which their roles require. Every command works while the server runs,
and is audited.`,
	}
	cmd.AddCommand(userAddCmd(), userResetCmd())
	return cmd
}

func userAddCmd() *cobra.Command {
	cfg := server.Defaults()
	var nu auth.NewUser
	cmd := &cobra.Command{
		Use:     "add",
		Short:   "Create an account and print its one-time password",
		Example: "  hestia user add --data DIR --username jdoe --role clinician --practitioner 5f0c…\n  hestia user add --data DIR --username ann.smith --role patient --patient 9a1b…",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withData(cmd, &cfg, func(n *server.Node) error {
				u, otp, err := n.AddUser(access.WithPrincipal(cmd.Context(), access.Local()), nu)
				if err != nil {
					return err
				}
				printCredentials(cmd.OutOrStdout(), u.Username, otp)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	f.StringVar(&nu.Username, "username", "", "the username (no spaces)")
	f.StringArrayVar(&nu.Roles, "role", nil, "a role (repeatable)")
	f.StringVar(&nu.Patient, "patient", "", "the Patient id of a patient's account")
	f.StringVar(&nu.Practitioner, "practitioner", "", "the Practitioner id of a clinician's account")
	f.StringVar(&nu.Organization, "organization", "", "the Organization id of a staff member's employer")
	keyFlags(cmd, &cfg)
	return cmd
}

func userResetCmd() *cobra.Command {
	cfg := server.Defaults()
	cmd := &cobra.Command{
		Use:   "reset-password USERNAME",
		Short: "Give an account a new one-time password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withData(cmd, &cfg, func(n *server.Node) error {
				ctx := access.WithPrincipal(cmd.Context(), access.Local())
				u, err := n.Accounts.ByName(ctx, args[0])
				if errors.Is(err, auth.ErrNoUser) {
					return fmt.Errorf("no user %s", args[0])
				} else if err != nil {
					return err
				}
				var otp string
				if err := n.Engine.AdministerRecorded(ctx, access.UserAdministration, "reset-password account="+u.ID, func(seal func(string) ([]byte, error)) error {
					// The reset and its record commit together; its NotBefore
					// voids the account's grants and sessions from before,
					// and the revocation then stops its refresh tokens.
					otp, err = n.Accounts.ResetPassword(ctx, u, func(u *auth.User) ([]byte, error) {
						return seal("reset-password account=" + u.ID)
					})
					if err != nil {
						return err
					}
					return n.DB.RevokeSubject(ctx, u.ID)
				}); err != nil {
					return err
				}
				printCredentials(cmd.OutOrStdout(), u.Username, otp)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	keyFlags(cmd, &cfg)
	return cmd
}

func initCmd() *cobra.Command {
	cfg := server.Defaults()
	var username string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data directory and its first administrator",
		Long: `Create the data directory (keys, database) and its first administrator,
with a one-time password printed once: sign in with it, change it and enrol
an authenticator app. hestia serve does this itself on an empty data
directory. There is no default account; without --username one is generated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withData(cmd, &cfg, func(n *server.Node) error {
				u, otp, err := n.Init(cmd.Context(), username)
				if err != nil {
					return err
				}
				if u == nil {
					return errors.New("this data directory has accounts already (hestia user add creates more)")
				}
				printCredentials(cmd.OutOrStdout(), u.Username, otp)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	cmd.Flags().StringVar(&username, "username", "", "the administrator's username (default: generated)")
	keyFlags(cmd, &cfg)
	return cmd
}

// printCredentials shows a new account's one-time password, once.
func printCredentials(w io.Writer, username, otp string) {
	fmt.Fprintf(w, "username: %s\n", username)
	if otp != "" {
		fmt.Fprintf(w, "one-time password: %s\n", otp)
		fmt.Fprintln(w, "(shown once; it must be changed at the first sign-in)")
	}
}
