package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/hestiahealth/hestia/internal/audit/tlog"
	"github.com/hestiahealth/hestia/internal/crypt"
)

// testLog is a log of n records with a signed checkpoint.
func testLog(t *testing.T, n int) (records [][]byte, nodes tlog.MemNodes, cp []byte, verifier string) {
	t.Helper()
	skey, vkey, err := crypt.NewNoteKey("example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	tree, nodes := tlog.Empty(), tlog.MemNodes{}
	for i := range n {
		rec := fmt.Appendf(nil, "sealed record %d", i)
		records = append(records, rec)
		tree.Append(rec, nodes.Put)
	}
	cp, err = tlog.Checkpoint{Origin: "example.org/log", Size: tree.Size(), Root: tree.Root()}.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	return records, nodes, cp, vkey
}

func write(t *testing.T, h Header, recs []Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestCompleteExport(t *testing.T) {
	records, _, cp, vkey := testLog(t, 37)
	h := Header{Origin: "example.org/log", Verifier: vkey, Checkpoint: string(cp), Size: 37, Complete: true}
	all := make([]Record, len(records))
	for i, r := range records {
		all[i] = Record{Index: uint64(i), Record: r, Event: []byte(`{"resourceType":"AuditEvent"}`)}
	}
	rep, err := Verify(bytes.NewReader(write(t, h, all)), vkey, false)
	if err != nil || rep.Records != 37 || !rep.Complete {
		t.Fatalf("%+v %v", rep, err)
	}
	changed := append([]Record(nil), all...)
	changed[5] = Record{Index: 5, Record: []byte("forged")}
	swapped := append([]Record(nil), all...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	for name, recs := range map[string][]Record{
		"changed":   changed,
		"removed":   append(append([]Record(nil), all[:9]...), all[10:]...),
		"truncated": all[:30],
		"reordered": swapped,
	} {
		var p *Problem
		if _, err := Verify(bytes.NewReader(write(t, h, recs)), vkey, false); !errors.As(err, &p) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Another key, or a header that lies about the size, fails.
	_, _, _, other := testLog(t, 1)
	if _, err := Verify(bytes.NewReader(write(t, h, all)), other, false); err == nil {
		t.Error("verified with another key")
	}
	h2 := h
	h2.Size = 36
	if _, err := Verify(bytes.NewReader(write(t, h2, all[:36])), vkey, false); err == nil {
		t.Error("a header size that is not the checkpoint's")
	}
}

func TestPartialExport(t *testing.T) {
	records, nodes, cp, vkey := testLog(t, 50)
	h := Header{Origin: "example.org/log", Verifier: vkey, Checkpoint: string(cp), Size: 50}
	var some []Record
	for _, i := range []uint64{3, 17, 49} {
		p, err := tlog.Inclusion(context.Background(), nodes, i, 50)
		if err != nil {
			t.Fatal(err)
		}
		some = append(some, Record{Index: i, Record: records[i], Proof: p})
	}
	if rep, err := Verify(bytes.NewReader(write(t, h, some)), "", false); err != nil || rep.Records != 3 {
		t.Fatalf("%+v %v", rep, err)
	}
	// Repeated lines, or a selection passed off as the whole log, fail.
	if _, err := Verify(bytes.NewReader(write(t, h, append(some, some[2]))), vkey, false); err == nil {
		t.Fatal("a repeated record was accepted")
	}
	if _, err := Verify(bytes.NewReader(write(t, h, some)), vkey, true); err == nil {
		t.Fatal("a selection passed as the whole log")
	}
	some[1].Record = []byte("forged")
	var p *Problem
	if _, err := Verify(bytes.NewReader(write(t, h, some)), vkey, false); !errors.As(err, &p) || p.Index != 17 || !strings.Contains(p.Reason, "not in the signed log") {
		t.Fatalf("a forged record: %v", err)
	}
}
