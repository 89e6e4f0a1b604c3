package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/checkpoint"
	"github.com/hestiahealth/hestia/internal/audit/journal"
	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/oauth"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

// JournalDir is the audit journal's folder inside a data directory.
const JournalDir = "audit-journal"

// openAudit returns the recorder of audit events: sealed AuditEvents in the
// tamper-evident log, made durable through the journal (or, when another
// process of this data directory has the journal, straight in the
// database), and the journal to close (nil without one).
func openAudit(cfg Config, db Storage, keys *crypt.Keyring, origin string, log *slog.Logger) (audit.Encoder, *journal.Journal, error) {
	trail := audit.Trail{Source: origin, Seal: clearAudit{}}
	if keys != nil {
		trail.Seal, trail.Tags = keys, keys
	}
	lite, ok := db.(*sqlite.DB)
	if !ok {
		// PostgreSQL: records are durable once queued in the database,
		// whichever node queued them (postgres.DB.AppendAudit).
		trail.Log = db.(audit.Appender)
		var enc audit.Encoder = trail
		if cfg.AuditEcho != nil {
			enc = echo{trail, audit.Log{Logger: cfg.AuditEcho}}
		}
		return enc, nil, nil
	}
	j, err := journal.Open(filepath.Join(cfg.DataDir, JournalDir), lite.JournalSink(), journal.Options{})
	switch {
	case err == nil:
		trail.Log = j
	case errors.Is(err, journal.ErrLocked):
		// A running server has the journal: this process's records go to
		// the database directly (durable and ordered, only slower).
		log.Debug("the audit journal is in use by another process; audit records go to the database directly")
		trail.Log = dbLog{lite}
	default:
		return nil, nil, fmt.Errorf("audit journal: %w", err)
	}
	var enc audit.Encoder = trail
	if cfg.AuditEcho != nil {
		enc = echo{trail, audit.Log{Logger: cfg.AuditEcho}}
	}
	return enc, j, nil
}

// defaultOrigin names this log in checkpoints and AuditEvent.source: the
// base URL's host, or the machine's name.
func defaultOrigin(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		return u.Host + "/audit"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h + "/hestia/audit"
	}
	return "localhost/hestia/audit"
}

// dbLog appends records to the database's log directly.
type dbLog struct{ db *sqlite.DB }

func (l dbLog) AppendAudit(ctx context.Context, records ...[]byte) error {
	_, err := l.db.AppendAudit(ctx, records...)
	return err
}

// clearAudit leaves records unsealed: only in the benchmark-only plaintext
// build, which has no keys.
type clearAudit struct{}

func (clearAudit) SealAudit(r []byte) ([]byte, error) { return r, nil }

// echo records events in the log and also writes them as log lines (the
// command-line tools show what they did).
type echo struct {
	audit.Trail
	lines audit.Log
}

func (e echo) Record(ctx context.Context, ev *audit.Event) error {
	if err := e.Trail.Record(ctx, ev); err != nil {
		return err
	}
	return e.lines.Record(ctx, ev)
}

// Committed echoes an event whose record committed with its write.
func (e echo) Committed(ctx context.Context, ev *audit.Event) { _ = e.lines.Record(ctx, ev) }

// Meta keys of the audit log's identity.
const (
	originKey   = "audit.origin"
	signerKey   = "audit.signer"   // the checkpoint-signing key, sealed
	verifierKey = "audit.verifier" // its public verifier key
)

// CheckpointDir is the default checkpoint sink inside a data directory.
// Production should name storage the database's host cannot rewrite
// (HESTIA_AUDIT_CHECKPOINTS).
const CheckpointDir = "audit-checkpoints"

// AuditIdentity is the audit log's name and the key its checkpoints are
// verified with (public).
type AuditIdentity struct {
	Origin   string
	Verifier string // a note verifier key

	rollback string // set when a rollback was accepted at open: what it was
}

// ReadAuditIdentity returns the audit log's name and public checkpoint key
// as the database holds them (empty before the first open creates them).
// Neither is secret.
func ReadAuditIdentity(ctx context.Context, db oauth.MetaStore) (AuditIdentity, error) {
	var id AuditIdentity
	var err error
	if id.Origin, _, err = db.Meta(ctx, originKey); err != nil {
		return id, err
	}
	id.Verifier, _, err = db.Meta(ctx, verifierKey)
	return id, err
}

// openCheckpoints sets up the log's identity (origin and signing key,
// created on first use; the origin may not change afterwards), checks
// that the log extends the latest checkpoint held by the sinks (refusing
// a rolled-back or rewritten database), and returns the issuer.
func openCheckpoints(ctx context.Context, cfg Config, db Storage, keys *crypt.Keyring, log *slog.Logger) (*checkpoint.Issuer, AuditIdentity, error) {
	id, err := ReadAuditIdentity(ctx, db)
	if err != nil {
		return nil, id, err
	}
	origin := id.Origin
	switch {
	case origin == "":
		origin = cmp.Or(cfg.AuditOrigin, defaultOrigin(cfg.BaseURL))
		if !validOrigin(origin) {
			return nil, id, fmt.Errorf("audit origin %q: one line of printable characters without spaces", origin)
		}
	case cfg.AuditOrigin != "" && cfg.AuditOrigin != origin:
		return nil, id, fmt.Errorf("the audit log is named %q; it cannot be renamed to %q (checkpoints name it)", origin, cfg.AuditOrigin)
	}
	sealedHex, haveKey, err := db.Meta(ctx, signerKey)
	if err != nil {
		return nil, id, err
	}
	var skey, vkey string
	if !haveKey {
		if skey, vkey, err = crypt.NewNoteKey(noteName(origin)); err != nil {
			return nil, id, err
		}
		sealed := []byte(skey)
		if keys != nil {
			if sealed, err = keys.SealNoteKey(skey); err != nil {
				return nil, id, err
			}
		}
		// Nodes of one database that start together race to create the
		// identity: the first one's stands whole, and the others use it.
		stored, err := db.InitMeta(ctx, [][2]string{{originKey, origin}, {verifierKey, vkey}, {signerKey, hex.EncodeToString(sealed)}})
		if err != nil {
			return nil, id, err
		}
		if stored[2][1] != hex.EncodeToString(sealed) {
			origin, id.Verifier, sealedHex, haveKey = stored[0][1], stored[1][1], stored[2][1], true
		}
	}
	if haveKey {
		sealed, err := hex.DecodeString(sealedHex)
		if err != nil {
			return nil, id, fmt.Errorf("audit signing key: %w", err)
		}
		skey = string(sealed)
		if keys != nil {
			if skey, err = keys.OpenNoteKey(sealed); err != nil {
				return nil, id, fmt.Errorf("audit signing key: %w", err)
			}
		}
		vkey = id.Verifier
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, id, fmt.Errorf("audit signing key: %w", err)
	}
	id = AuditIdentity{Origin: origin, Verifier: vkey}
	sinks, err := checkpointSinks(ctx, cfg)
	if err != nil {
		return nil, id, err
	}
	is := &checkpoint.Issuer{Log: db, Signer: signer, Origin: origin, Sinks: sinks,
		Every: cfg.CheckpointEvery, Interval: cfg.CheckpointInterval, Logger: log,
		Leading: func() bool { return leading(db) }}
	// The log must extend every checkpoint it has signed: the latest in
	// the database, and any newer one a sink holds (a sink that cannot be
	// read fails the start: a rollback could not be ruled out).
	latest, ok, err := db.LatestCheckpoint(ctx)
	if err != nil {
		return nil, id, err
	}
	var held [][]byte
	var after uint64
	if ok {
		c, err := checkpoint.Open([][]byte{latest}, origin, vkey)
		if err != nil {
			return nil, id, fmt.Errorf("audit checkpoints: %w", err)
		}
		held, after = append(held, latest), c[0].Size
	}
	for _, s := range sinks {
		if src, isSource := s.(checkpoint.Source); isSource {
			n, err := src.Newest(ctx, after)
			if err != nil {
				return nil, id, fmt.Errorf("audit checkpoints: %w", err)
			}
			if n != nil {
				held = append(held, n)
			}
		}
	}
	cps, err := checkpoint.Open(held, origin, vkey)
	if err != nil {
		return nil, id, fmt.Errorf("audit checkpoints: %w", err)
	}
	// The log's head is read after the checkpoints, and brought up to every
	// record committed (other nodes may be appending and signing): a head
	// older than a checkpoint would look like a rollback.
	if s, ok := db.(interface{ SyncAudit(context.Context) error }); ok {
		if err := s.SyncAudit(ctx); err != nil {
			return nil, id, fmt.Errorf("audit log: %w", err)
		}
	}
	size, root := db.AuditHead()
	if len(cps) == 0 {
		return is, id, nil
	}
	newest := cps[0]
	for _, c := range cps {
		if c.Size >= newest.Size {
			newest = c
		}
	}
	if err := tlog.CheckPrefix(ctx, db.AuditNodes(), newest, size, root); err != nil {
		if !cfg.AuditAcceptRollback || !errors.Is(err, tlog.ErrRollback) {
			return nil, id, fmt.Errorf("audit log check against its checkpoint of %d records: %w; the database may have been restored from an older copy or edited: `hestia audit verify` shows where (HESTIA_AUDIT_ACCEPT_ROLLBACK=true opens a backup restored on purpose)", newest.Size, err)
		}
		log.Error("audit log rolled back: accepted by configuration; the divergence stays visible to hestia audit verify",
			slog.Uint64("checkpoint_size", newest.Size), slog.Uint64("log_size", size))
		id.rollback = fmt.Sprintf("audit_rollback_accepted: checkpoint of %d records, log of %d", newest.Size, size)
		is.Start(size, nil)
		return is, id, nil
	}
	if ok {
		is.Start(newest.Size, latest)
	}
	return is, id, nil
}

// noteName is a note key name for origin (no spaces or '+').
func noteName(origin string) string { return strings.ReplaceAll(origin, "+", "-") }

// checkpointSinks parses Config.AuditCheckpoints: folders, s3:// buckets,
// and https:// endpoints that receive each checkpoint by POST.
func checkpointSinks(ctx context.Context, cfg Config) ([]checkpoint.Sink, error) {
	spec := cfg.AuditCheckpoints
	if spec == "" {
		spec = filepath.Join(cfg.DataDir, CheckpointDir)
	}
	var out []checkpoint.Sink
	for _, s := range strings.Split(spec, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case strings.HasPrefix(s, "s3://"):
			s3, err := checkpoint.NewS3(ctx, s, cfg.AuditS3Endpoint)
			if err != nil {
				return nil, err
			}
			out = append(out, s3)
		case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
			u, err := url.Parse(s)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("checkpoint sink %q: not a URL", s)
			}
			if u.Scheme == "http" && !isLoopback(u.Hostname()) {
				return nil, fmt.Errorf("checkpoint sink %q: plain http only on a loopback address", s)
			}
			out = append(out, httpSink{url: s, client: &http.Client{Timeout: 10 * time.Second}})
		default:
			out = append(out, checkpoint.Folder{Dir: s})
		}
	}
	// The check at open reads folders and buckets back: with endpoints
	// only, the default folder is kept too, so that a restored database
	// is still caught.
	if !slices.ContainsFunc(out, func(s checkpoint.Sink) bool { _, ok := s.(checkpoint.Source); return ok }) {
		out = append([]checkpoint.Sink{checkpoint.Folder{Dir: filepath.Join(cfg.DataDir, CheckpointDir)}}, out...)
	}
	return out, nil
}

// httpSink POSTs each checkpoint (text/plain) to an endpoint, which must
// answer 2xx.
type httpSink struct {
	url    string
	client *http.Client
}

func (h httpSink) String() string {
	u, _ := url.Parse(h.url)
	return u.Redacted()
}

func (h httpSink) Put(ctx context.Context, size uint64, note []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(note))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("X-Checkpoint-Size", strconv.FormatUint(size, 10))
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("checkpoint sink answered %s", resp.Status)
	}
	return nil
}
