package store

import (
	"bytes"
	"testing"
)

func TestAuditRecordEnvelope(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, AuditTagLen), bytes.Repeat([]byte{2}, AuditTagLen)
	for _, tags := range [][][]byte{nil, {a}, {a, b}} {
		rec, err := PackAuditRecord(tags, []byte("sealed"))
		if err != nil {
			t.Fatal(err)
		}
		got, sealed, err := UnpackAuditRecord(rec)
		if err != nil || string(sealed) != "sealed" || len(got) != len(tags) {
			t.Fatalf("unpack: %q %q %v", got, sealed, err)
		}
		for i := range tags {
			if !bytes.Equal(got[i], tags[i]) {
				t.Fatalf("tag %d = %x", i, got[i])
			}
		}
	}
	if _, err := PackAuditRecord([][]byte{{1, 2}}, nil); err == nil {
		t.Fatal("a short tag was packed")
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0, 'x'}, {1, 5, 'x'}, {1, 0xff}} {
		if _, _, err := UnpackAuditRecord(bad); err == nil {
			t.Errorf("unpacked %x", bad)
		}
	}
}
