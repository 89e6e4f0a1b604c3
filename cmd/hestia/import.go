package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/server"
)

// Import limits.
const (
	maxImportFile  = 512 << 20 // a Bundle file is read whole
	maxNDJSONLine  = 64 << 20
	ndjsonChunk    = 200 // resources per transaction when loading NDJSON
	importWorkers  = 4
	maxErrorsShown = 5
)

func importCmd() *cobra.Command {
	cfg := server.Defaults()
	var workers int
	var quiet bool
	cmd := &cobra.Command{
		Use:   "import --data DIR PATH...",
		Short: "Load FHIR Bundles and NDJSON files into a data directory",
		Long: `Load FHIR data into the data directory, through the same validation,
indexing and policy checks as the REST API.

Each PATH is a file or a folder (searched recursively). Files ending in .json
hold one Bundle: a transaction is applied all-or-nothing, a batch entry by
entry, and any other Bundle type (collection, searchset...) has its entry
resources stored. Files ending in .ndjson hold one resource per line; a
resource with an id keeps it (it is stored with update semantics), one
without gets a new id.

The import may run while the server uses the same data directory.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if err := applyEnv(cmd, &cfg); err != nil {
				return err
			}
			log := newLogger("warn")
			node, err := server.OpenNode(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer node.Close()
			files, err := listImportFiles(paths)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return errors.New("no .json or .ndjson files found")
			}
			im := &importer{eng: node.Engine}
			return im.run(cmd.Context(), files, max(1, workers), quiet, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	f.IntVar(&workers, "workers", importWorkers, "files loaded concurrently")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	keyFlags(cmd, &cfg)
	return cmd
}

func listImportFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".ndjson")) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(files)
	return files, nil
}

type importer struct {
	eng       *engine.Engine
	resources atomic.Int64
	mu        sync.Mutex
	errs      map[string][]string // file -> messages
	errCount  map[string]int
}

func (im *importer) fail(file string, err error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.errs == nil {
		im.errs, im.errCount = make(map[string][]string), make(map[string]int)
	}
	im.errCount[file]++
	if len(im.errs[file]) < maxErrorsShown {
		im.errs[file] = append(im.errs[file], clientMessage(err))
	}
}

// clientMessage is the safe text of an error (never resource content).
func clientMessage(err error) string {
	if f, ok := fault.As(err); ok {
		if f.Msg != "" {
			return f.Msg
		}
		if len(f.Issues) > 0 {
			msg := f.Issues[0].Diagnostics
			if len(f.Issues[0].Expression) > 0 {
				msg += " at " + f.Issues[0].Expression[0]
			}
			if len(f.Issues) > 1 {
				msg += fmt.Sprintf(" (and %d more issues)", len(f.Issues)-1)
			}
			return msg
		}
	}
	return err.Error()
}

func (im *importer) run(ctx context.Context, files []string, workers int, quiet bool, stdout, stderr io.Writer) error {
	ctx = access.WithPrincipal(ctx, access.Local())
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	var bar *progressbar.ProgressBar
	if !quiet {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
		)
	}
	start := time.Now()
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				im.file(ctx, f)
				if bar != nil {
					if st, err := os.Stat(f); err == nil {
						bar.Add64(st.Size())
					}
				}
			}
		}()
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	if bar != nil {
		bar.Finish()
	}
	secs := time.Since(start).Seconds()
	n := im.resources.Load()
	fmt.Fprintf(stdout, "imported %d resources from %d files in %.1f s (%.0f resources/s)\n", n, len(files), secs, float64(n)/max(secs, 1e-9))
	if len(im.errCount) == 0 {
		return ctx.Err()
	}
	names := make([]string, 0, len(im.errCount))
	errTotal := 0
	for f, c := range im.errCount {
		names = append(names, f)
		errTotal += c
	}
	sort.Strings(names)
	fmt.Fprintf(stdout, "%d errors in %d files:\n", errTotal, len(names))
	for _, f := range names {
		fmt.Fprintf(stdout, "  %s: %d errors\n", f, im.errCount[f])
		for _, m := range im.errs[f] {
			fmt.Fprintf(stdout, "    - %s\n", m)
		}
	}
	return fmt.Errorf("%d errors", errTotal)
}

func (im *importer) file(ctx context.Context, path string) {
	if strings.HasSuffix(path, ".ndjson") {
		im.ndjson(ctx, path)
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		im.fail(path, err)
		return
	}
	if st.Size() > maxImportFile {
		im.fail(path, fmt.Errorf("file larger than %d bytes", maxImportFile))
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		im.fail(path, err)
		return
	}
	res, err := fhir.ParseResource(data)
	if err != nil {
		im.fail(path, err)
		return
	}
	if rt, _ := res["resourceType"].(string); rt != "Bundle" {
		im.store(ctx, path, []map[string]any{res})
		return
	}
	switch t, _ := res["type"].(string); t {
	case "transaction":
		results, err := im.eng.Import(ctx, res)
		if err != nil {
			im.fail(path, err)
			return
		}
		im.resources.Add(int64(len(results)))
	case "batch":
		results, err := im.eng.Batch(ctx, res)
		if err != nil {
			im.fail(path, err)
			return
		}
		for i, r := range results {
			if r.Err != nil {
				im.fail(path, fmt.Errorf("entry %d: %s", i, clientMessage(r.Err)))
			} else {
				im.resources.Add(1)
			}
		}
	default:
		entries, _ := res["entry"].([]any)
		var rs []map[string]any
		for _, e := range entries {
			if em, ok := e.(map[string]any); ok {
				if r, ok := em["resource"].(map[string]any); ok {
					rs = append(rs, r)
				}
			}
		}
		im.store(ctx, path, rs)
	}
}

func (im *importer) ndjson(ctx context.Context, path string) {
	f, err := os.Open(path)
	if err != nil {
		im.fail(path, err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), maxNDJSONLine)
	var chunk []map[string]any
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		res, err := fhir.ParseResource(b)
		if err != nil {
			im.fail(path, fmt.Errorf("line %d: %s", line, clientMessage(err)))
			continue
		}
		chunk = append(chunk, res)
		if len(chunk) == ndjsonChunk {
			im.store(ctx, path, chunk)
			chunk = nil
		}
	}
	if err := sc.Err(); err != nil {
		im.fail(path, fmt.Errorf("line %d: %w", line+1, err))
	}
	im.store(ctx, path, chunk)
}

// store writes resources in one transaction; if it fails, it writes them
// one by one so that a bad resource only costs itself.
func (im *importer) store(ctx context.Context, path string, rs []map[string]any) {
	if len(rs) == 0 {
		return
	}
	if len(rs) > 1 {
		if _, err := im.eng.Import(ctx, transactionOf(rs)); err == nil {
			im.resources.Add(int64(len(rs)))
			return
		}
	}
	for _, r := range rs {
		if _, err := im.eng.Import(ctx, transactionOf([]map[string]any{r})); err != nil {
			typ, _ := r["resourceType"].(string)
			id, _ := r["id"].(string)
			im.fail(path, fmt.Errorf("%s/%s: %s", typ, id, clientMessage(err)))
			continue
		}
		im.resources.Add(1)
	}
}

// transactionOf wraps resources in a transaction: PUT when they carry an
// id, POST otherwise. The resources are deep copies, so a failed attempt
// (which rewrites references and meta) can be retried one by one.
func transactionOf(rs []map[string]any) map[string]any {
	entries := make([]any, 0, len(rs))
	for _, r := range rs {
		c := deepCopy(r).(map[string]any)
		typ, _ := c["resourceType"].(string)
		req := map[string]any{"method": "POST", "url": typ}
		if id, _ := c["id"].(string); id != "" {
			req = map[string]any{"method": "PUT", "url": typ + "/" + id}
		}
		entries = append(entries, map[string]any{"resource": c, "request": req})
	}
	return map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = deepCopy(c)
		}
		return a
	}
	return v
}
