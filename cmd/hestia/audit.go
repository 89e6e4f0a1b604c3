package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/checkpoint"
	"github.com/hestiahealth/hestia/internal/audit/export"
	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/server"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check and search the tamper-evident audit log",
	}
	cmd.AddCommand(auditVerifyCmd(), auditSearchCmd(), auditReportCmd(), auditExportCmd())
	return cmd
}

func auditVerifyCmd() *cobra.Command {
	var dataDir, storage, checkpoints, offline, verifier string
	var complete bool
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
database rolled back to an earlier copy (a checkpoint is larger than the log).

With --offline FILE it checks an export (hestia audit export) instead,
without the data directory or any key: the checkpoint is signed by the
verifier key given (--verifier, the key the log's operator publishes), and the
records are the log's (a complete export hashes to the checkpoint's root; a
selection has an inclusion proof per record).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if offline != "" {
				return verifyOffline(cmd, offline, verifier, complete)
			}
			if storage == "" {
				storage = os.Getenv("HESTIA_STORAGE")
			}
			if storage == "" || storage == "sqlite" {
				path := filepath.Join(dataDir, server.DatabaseFile)
				if _, err := os.Stat(path); err != nil {
					return fmt.Errorf("no database in %s: %w", dataDir, err)
				}
			}
			db, err := server.OpenStorage(ctx, server.Config{DataDir: dataDir, Storage: storage})
			if err != nil {
				return err
			}
			defer db.Close()
			var rep *tlog.Report
			cps, held, err := heldCheckpoints(cmd, db, dataDir, checkpoints, verifier)
			if err == nil {
				if v, ok := db.(interface {
					VerifyAudit(context.Context, []tlog.Checkpoint) (*tlog.Report, error)
				}); ok {
					rep, err = v.VerifyAudit(ctx, cps) // a live log, as one snapshot
				} else {
					rep, err = tlog.Verify(ctx, db.AuditLog, db.AuditNodes(), cps)
				}
			}
			var p *tlog.Problem
			if errors.As(err, &p) {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log BROKEN at record %d: %s\n", p.Index, p.Reason)
				return errors.New("the audit log does not verify")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log OK: %d records, root %x; %d checkpoints checked (%d held outside the database)\n", rep.Size, rep.Root, len(cps), held)
			if id, _ := server.ReadAuditIdentity(ctx, db); id.Verifier != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "checkpoint key (publish it for auditors; --verifier): %s\n", id.Verifier)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", server.Defaults().DataDir, "data directory")
	cmd.Flags().StringVar(&storage, "storage", "", "database: sqlite (default, in the data directory) or a postgres:// URL")
	cmd.Flags().StringVar(&checkpoints, "checkpoints", "", "folder of checkpoints held outside the database (default DATA/"+server.CheckpointDir+")")
	cmd.Flags().StringVar(&offline, "offline", "", "check an export file instead of a data directory")
	cmd.Flags().BoolVar(&complete, "complete", false, "with --offline: the file must hold the whole log")
	cmd.Flags().StringVar(&verifier, "verifier", "", "the log's checkpoint verifier key as published (default: the one the database, or with --offline the file, names)")
	return cmd
}

func verifyOffline(cmd *cobra.Command, file, verifier string, complete bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := export.Verify(f, verifier, complete)
	var p *export.Problem
	if errors.As(err, &p) {
		fmt.Fprintf(cmd.OutOrStdout(), "export BROKEN: %s\n", p.Error())
		return errors.New("the export does not verify")
	}
	if err != nil {
		return err
	}
	kind := "a selection, each with its inclusion proof"
	if rep.Complete {
		kind = "the whole log, hashing to the checkpoint's root"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "export OK: %d records of the log %s (signed checkpoint of %d records); %s\n", rep.Records, rep.Origin, rep.Size, kind)
	if verifier == "" {
		fmt.Fprintln(cmd.OutOrStdout(), "warning: checked with the verifier key the file names; pass --verifier with the published key")
	}
	return nil
}

// heldCheckpoints opens the checkpoints stored in the database and in the
// folder, with the log's verifier key (verifier if given, else the
// database's); it returns them and how many came from the folder. Checkpoints
// without a key to check them, or a database naming another key than the
// one given, are a *tlog.Problem: deleting the log's identity must not
// make its checkpoints go unchecked.
func heldCheckpoints(cmd *cobra.Command, db server.Storage, dataDir, folder, verifier string) ([]tlog.Checkpoint, int, error) {
	ctx := cmd.Context()
	id, err := server.ReadAuditIdentity(ctx, db)
	if err != nil {
		return nil, 0, err
	}
	origin, stored := id.Origin, id.Verifier
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
	all := append(notes, outside...)
	switch {
	case verifier != "" && stored != "" && stored != verifier:
		return nil, 0, &tlog.Problem{Reason: "the database names another checkpoint key than the one given: its identity was replaced"}
	case verifier == "":
		verifier = stored
	}
	if len(all) == 0 {
		return nil, 0, nil
	}
	if verifier == "" {
		return nil, 0, &tlog.Problem{Reason: "checkpoints exist but the database holds no key to check them (its identity was removed); give the log's key with --verifier"}
	}
	if origin == "" {
		origin, _, _ = strings.Cut(string(all[0]), "\n")
	}
	cps, err := checkpoint.Open(all, origin, verifier)
	if err != nil {
		return nil, 0, &tlog.Problem{Reason: "a checkpoint does not open with the log's key " + verifier + ": " + err.Error()}
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
					entries[i] = map[string]any{"resource": h.Resource()}
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

func auditExportCmd() *cobra.Command {
	cfg := server.Defaults()
	var query, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write audit records and proofs for an external auditor (NDJSON)",
		Long: `Write the audit log, or the events a search selects (--query, as for
hestia audit search), for an external auditor: newline-delimited JSON whose
first line names the log (origin, public verifier key) and holds a signed
checkpoint issued now; each next line holds a record as stored (sealed), the
readable AuditEvent, and (for a selection) the record's inclusion proof.

The auditor checks the file without keys:
  hestia audit verify --offline FILE --verifier KEY
(the verifier key as published by the log's operator; see the header). The
export is itself audited.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := url.ParseQuery(query)
			if err != nil {
				return fmt.Errorf("--query: %w", err)
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			return withNode(cmd, &cfg, func(n *server.Node) error {
				ctx := local(cmd)
				if n.Checkpoints == nil {
					return errors.New("this build keeps no audit log")
				}
				_, err := n.Engine.Administer(ctx, access.AuditExport, func() (int, error) {
					return writeExport(ctx, w, n, q)
				})
				return err
			})
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	cmd.Flags().StringVar(&query, "query", "", "export only the events this search selects")
	cmd.Flags().StringVarP(&out, "out", "o", "", "file to write (created; default standard output)")
	keyFlags(cmd, &cfg)
	return cmd
}

// writeExport writes the export and returns the number of records.
func writeExport(ctx context.Context, w io.Writer, n *server.Node, q url.Values) (int, error) {
	cp, err := n.Checkpoints.Issue(ctx)
	if err != nil {
		return 0, err
	}
	c, err := checkpoint.Open([][]byte{cp}, n.AuditID.Origin, n.AuditID.Verifier)
	if err != nil {
		return 0, err
	}
	size := c[0].Size
	bw := bufio.NewWriter(w)
	ew, err := export.NewWriter(bw, export.Header{Origin: n.AuditID.Origin, Verifier: n.AuditID.Verifier,
		Checkpoint: string(cp), Size: size, Complete: len(q) == 0})
	if err != nil {
		return 0, err
	}
	count := 0
	put := func(i uint64, rec []byte, proof [][]byte) error {
		line := export.Record{Index: i, Record: rec, Proof: proof}
		if ev, err := audit.Open(n.Keys, rec); err == nil {
			line.Event, _ = json.Marshal(ev.AuditEvent())
		}
		count++
		return ew.Write(line)
	}
	if len(q) == 0 {
		err = n.DB.AuditRecords(ctx, 0, size, func(i uint64, rec []byte) error { return put(i, rec, nil) })
	} else {
		err = exportSelection(ctx, n, q, size, put)
	}
	if err != nil {
		return count, err
	}
	return count, bw.Flush()
}

// exportSelection writes the records a search selects, oldest first, with
// inclusion proofs against the checkpoint of size size.
func exportSelection(ctx context.Context, n *server.Node, q url.Values, size uint64, put func(uint64, []byte, [][]byte) error) error {
	q = maps.Clone(q)
	q.Set("_count", "1000")
	q.Set("_before", strconv.FormatUint(size, 10))
	var hits []uint64
	for {
		page, err := n.Engine.AuditEvents(ctx, q)
		if err != nil {
			return err
		}
		for _, h := range page.Hits {
			hits = append(hits, h.Index)
		}
		if page.Before == 0 {
			break
		}
		q.Set("_before", strconv.FormatUint(page.Before, 10))
	}
	slices.Sort(hits)
	for _, i := range hits {
		var rec []byte
		if err := n.DB.AuditRecords(ctx, i, i+1, func(_ uint64, r []byte) error { rec = r; return nil }); err != nil {
			return err
		}
		proof, err := tlog.Inclusion(ctx, n.DB.AuditNodes(), i, size)
		if err != nil {
			return err
		}
		if err := put(i, rec, proof); err != nil {
			return err
		}
	}
	return nil
}
