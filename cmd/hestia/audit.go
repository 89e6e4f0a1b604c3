package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/checkpoint"
	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/server"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check and search the tamper-evident audit log",
	}
	cmd.AddCommand(auditVerifyCmd(), auditSearchCmd(), auditReportCmd())
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

func auditSearchCmd() *cobra.Command {
	cfg := server.Defaults()
	var query string
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search the audit log (administrators)",
		Long: `Search the audit log and print the matching events, newest first, as a FHIR
searchset Bundle of AuditEvents (one JSON document). The query takes the
AuditEvent search parameters Hestia supports: patient, agent, date (with ge,
gt, le, lt prefixes), type (the interaction, such as read or search-type),
outcome (0 success, 4 minor failure, 8 serious failure), entity (Type/id),
_count (default 50, at most 1000) and _before (a log index: the next page).
The search is itself audited.

  hestia audit search --data DIR --query 'patient=123&type=read&date=ge2026-11-01'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := url.ParseQuery(query)
			if err != nil {
				return fmt.Errorf("--query: %w", err)
			}
			return withNode(cmd, &cfg, func(n *server.Node) error {
				page, err := n.Engine.AuditEvents(local(cmd), q)
				if err != nil {
					return err
				}
				entries := make([]any, len(page.Hits))
				for i, h := range page.Hits {
					entries[i] = map[string]any{"resource": auditResource(h)}
				}
				b := map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries}
				if page.Before > 0 {
					b["link"] = []any{map[string]any{"relation": "next", "url": "?_before=" + strconv.FormatUint(page.Before, 10)}}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	cmd.Flags().StringVar(&query, "query", "", "search parameters, as in a URL query string")
	keyFlags(cmd, &cfg)
	return cmd
}

func auditReportCmd() *cobra.Command {
	cfg := server.Defaults()
	var patient string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Show who accessed a patient's data (accounting of disclosures)",
		Long: `Show, newest first, every recorded access to a patient's data: when, who
(and in which role), through which application, what (the interaction and the
resource), why (the purpose of use) and the outcome. Break-the-glass accesses
are marked BREAK-THE-GLASS. The same report is GET /Patient/{id}/$access-report.
The report is itself audited.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if patient == "" {
				return errors.New("--patient is required")
			}
			return withNode(cmd, &cfg, func(n *server.Node) error {
				page, err := n.Engine.AccessReport(local(cmd), patient, url.Values{"_count": {"1000"}})
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(w, "WHEN\tWHO\tROLE\tAPP\tWHAT\tRESOURCE\tPURPOSE\tOUTCOME\t")
				for _, h := range page.Hits {
					ev := h.Event
					what := ev.Interaction
					if ev.BreakGlass {
						what = "BREAK-THE-GLASS " + what
					}
					res := ev.Type
					if ev.ID != "" {
						res += "/" + ev.ID
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", ev.Time.UTC().Format(time.RFC3339), dash(ev.Principal), dash(ev.Role),
						dash(ev.Client), what, dash(res), dash(ev.Purpose), outcomeName(ev.Outcome))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d accesses\n", len(page.Hits))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	cmd.Flags().StringVar(&patient, "patient", "", "the patient's id")
	keyFlags(cmd, &cfg)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func outcomeName(code string) string {
	switch code {
	case audit.Success:
		return "success"
	case audit.MinorFailure:
		return "refused or failed"
	}
	return "failed"
}

// auditResource is an audit hit as a FHIR AuditEvent, its id the log index.
func auditResource(h engine.AuditHit) map[string]any {
	data, _ := json.Marshal(h.Event.AuditEvent())
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	m["id"] = strconv.FormatUint(h.Index, 10)
	return m
}
