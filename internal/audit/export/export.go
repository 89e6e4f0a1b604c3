// Package export writes audit records for an external auditor as NDJSON,
// and verifies such a file without keys.
//
// The first line is a Header: the log's origin, its public verifier key
// and a signed checkpoint (C2SP tlog-checkpoint) of size Size. Each next
// line is a Record: its log index, the record as stored (sealed, base64),
// the readable AuditEvent the exporter opened it to, and, unless the file
// holds the whole log [0, Size), an inclusion proof against the
// checkpoint's root.
//
// Invariants of Verify, which needs no keys:
//   - The checkpoint is signed by the verifier key the auditor trusts.
//   - A complete export hashes to the checkpoint's root, every index once
//     and in order; a partial one has a valid inclusion proof per record.
//   - The readable events are not covered: they are what the exporter
//     opened the sealed records to (checkable with the audit key only).
package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"golang.org/x/mod/sumdb/note"
)

// Format names the file format in the header.
const Format = "hestia-audit-export/1"

// Header is the first line.
type Header struct {
	Type       string `json:"type"` // "header"
	Format     string `json:"format"`
	Origin     string `json:"origin"`
	Verifier   string `json:"verifier"`
	Checkpoint string `json:"checkpoint"`
	Size       uint64 `json:"size"`
	Complete   bool   `json:"complete"` // every record of [0, Size), no proofs
}

// Record is every other line.
type Record struct {
	Type   string          `json:"type"` // "record"
	Index  uint64          `json:"index"`
	Record []byte          `json:"record"`
	Proof  [][]byte        `json:"proof,omitempty"`
	Event  json.RawMessage `json:"event,omitempty"`
}

// Writer writes an export.
type Writer struct {
	enc *json.Encoder
}

// NewWriter writes the header to w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Type, h.Format = "header", Format
	enc := json.NewEncoder(w)
	if err := enc.Encode(h); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &Writer{enc: enc}, nil
}

// Write writes one record line.
func (w *Writer) Write(r Record) error {
	r.Type = "record"
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// Report is what Verify checked.
type Report struct {
	Origin   string
	Size     uint64 // the checkpoint's size
	Records  int
	Complete bool
}

// Problem is the first line that does not verify (line 1: the header).
type Problem struct {
	Line   int
	Index  uint64
	Reason string
}

func (p *Problem) Error() string {
	if p.Line == 1 {
		return "export: header: " + p.Reason
	}
	return fmt.Sprintf("export: line %d (record %d): %s", p.Line, p.Index, p.Reason)
}

// Verify checks an export against verifier, the log's verifier key as the
// auditor knows it ("" trusts the key in the header, which only shows the
// file is self-consistent). With complete, the file must hold the whole
// log (the header's Complete flag is not signed: only the auditor knows
// what they asked for).
func Verify(r io.Reader, verifier string, complete bool) (*Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	if !sc.Scan() {
		return nil, &Problem{Line: 1, Reason: "empty file"}
	}
	var h Header
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Type != "header" || h.Format != Format {
		return nil, &Problem{Line: 1, Reason: "not a " + Format + " header"}
	}
	if verifier == "" {
		verifier = h.Verifier
	} else if verifier != h.Verifier {
		return nil, &Problem{Line: 1, Reason: "the file names another verifier key than the one given"}
	}
	v, err := note.NewVerifier(verifier)
	if err != nil {
		return nil, &Problem{Line: 1, Reason: "verifier key: " + err.Error()}
	}
	cp, err := tlog.OpenCheckpoint([]byte(h.Checkpoint), h.Origin, v)
	if err != nil {
		return nil, &Problem{Line: 1, Reason: err.Error()}
	}
	if cp.Size != h.Size {
		return nil, &Problem{Line: 1, Reason: "the header's size is not the checkpoint's"}
	}
	if complete && !h.Complete {
		return nil, &Problem{Line: 1, Reason: "a selection, not the whole log"}
	}
	rep := &Report{Origin: h.Origin, Size: h.Size, Complete: h.Complete}
	tree := tlog.Empty()
	line := 1
	var prev uint64
	for sc.Scan() {
		line++
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Type != "record" {
			return nil, &Problem{Line: line, Reason: "not a record line"}
		}
		if rec.Index >= h.Size {
			return nil, &Problem{Line: line, Index: rec.Index, Reason: "index beyond the checkpoint"}
		}
		if h.Complete {
			if rec.Index != tree.Size() {
				return nil, &Problem{Line: line, Index: rec.Index, Reason: fmt.Sprintf("record %d expected: missing, inserted or out of order", tree.Size())}
			}
			tree.Append(rec.Record, nil)
		} else if rep.Records > 0 && rec.Index <= prev {
			return nil, &Problem{Line: line, Index: rec.Index, Reason: "records out of order or repeated"}
		} else if err := tlog.VerifyInclusion(rec.Record, rec.Index, h.Size, rec.Proof, cp.Root); err != nil {
			return nil, &Problem{Line: line, Index: rec.Index, Reason: "not in the signed log (changed, or its proof is wrong): " + err.Error()}
		}
		rep.Records++
		prev = rec.Index
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if h.Complete {
		if tree.Size() != h.Size {
			return nil, &Problem{Line: line, Index: tree.Size(), Reason: fmt.Sprintf("%d records, the checkpoint has %d: truncated", tree.Size(), h.Size)}
		}
		if root := tree.Root(); string(root) != string(cp.Root) {
			return nil, &Problem{Line: line, Reason: "the records do not hash to the checkpoint's root: a record was changed"}
		}
	}
	return rep, nil
}
