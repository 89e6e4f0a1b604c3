package tlog

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/hestiahealth/hestia/internal/crypt"
)

func noteKeys(t *testing.T, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := crypt.NewNoteKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// A checkpoint is the C2SP text, signed; it opens with the log's key and
// origin, and with nothing else.
func TestCheckpoint(t *testing.T) {
	const origin = "hestia.example/audit"
	s, v := noteKeys(t, origin)
	tree, _, _ := grow(t, 11)
	c := Checkpoint{Origin: origin, Size: tree.Size(), Root: tree.Root()}
	msg, err := c.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := strings.Cut(string(msg), "\n\n")
	if want := strings.TrimSuffix(c.Text(), "\n"); body != want {
		t.Fatalf("note body %q, want %q", body, want)
	}
	if lines := strings.Split(c.Text(), "\n"); len(lines) != 4 || lines[0] != origin || lines[1] != "11" {
		t.Fatalf("checkpoint text %q", c.Text())
	}
	got, err := OpenCheckpoint(msg, origin, v)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 11 || !bytes.Equal(got.Root, c.Root) || got.Origin != origin {
		t.Fatalf("opened %+v", got)
	}

	_, other := noteKeys(t, origin)
	bad := map[string][]byte{
		"another size":  bytes.Replace(msg, []byte("\n11\n"), []byte("\n12\n"), 1),
		"another root":  bytes.Replace(msg, []byte(c.Text()[len(origin)+4:len(origin)+8]), []byte("AAAA"), 1),
		"another log's": mustSign(t, Checkpoint{Origin: "other.example/log", Size: 11, Root: c.Root}, noteKeysSigner(t, "other.example/log")),
	}
	for name, m := range bad {
		if _, err := OpenCheckpoint(m, origin, v); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s checkpoint opened: %v", name, err)
		}
	}
	if _, err := OpenCheckpoint(msg, origin, other); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("opened with another key of the same name: %v", err)
	}
	if _, err := OpenCheckpoint(msg, "other.example/log", v); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("opened as another origin: %v", err)
	}
	if _, err := (Checkpoint{Origin: "two\nlines", Root: c.Root}).Sign(s); err == nil {
		t.Error("signed an origin of two lines")
	}
}

func noteKeysSigner(t *testing.T, name string) note.Signer {
	s, _ := noteKeys(t, name)
	return s
}

func mustSign(t *testing.T, c Checkpoint, s note.Signer) []byte {
	t.Helper()
	m, err := c.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
