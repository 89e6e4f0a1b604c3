package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/audit/journal"
	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

// JournalDir is the audit journal's folder inside a data directory.
const JournalDir = "audit-journal"

// openAudit returns the recorder of audit events: sealed AuditEvents in the
// tamper-evident log, made durable through the journal (or, when another
// process of this data directory has the journal, straight in the
// database), and the journal to close (nil without one).
func openAudit(cfg Config, db *sqlite.DB, keys *crypt.Keyring, log *slog.Logger) (audit.Encoder, *journal.Journal, error) {
	origin := cfg.AuditOrigin
	if origin == "" {
		origin = defaultOrigin(cfg.BaseURL)
	} else if !validOrigin(origin) {
		return nil, nil, fmt.Errorf("audit origin %q: one line of printable characters without spaces", origin)
	}
	trail := audit.Trail{Source: origin, Seal: clearAudit{}}
	if keys != nil {
		trail.Seal, trail.Tags = keys, keys
	}
	j, err := journal.Open(filepath.Join(cfg.DataDir, JournalDir), db.JournalSink(), journal.Options{})
	switch {
	case err == nil:
		trail.Log = j
	case errors.Is(err, journal.ErrLocked):
		// A running server has the journal: this process's records go to
		// the database directly (durable and ordered, only slower).
		log.Debug("the audit journal is in use by another process; audit records go to the database directly")
		trail.Log = dbLog{db}
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
