package tlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of the log's size and root hash, in the
// C2SP tlog-checkpoint format: the origin line (the log's name), the size
// in decimal, the root hash in standard base64, each ending in a newline,
// signed as a C2SP signed note (Ed25519).
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Text is the checkpoint's body, the signed text of the note.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root) + "\n"
}

// Sign returns the signed note of c.
func (c Checkpoint) Sign(signer note.Signer) ([]byte, error) {
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n") {
		return nil, errors.New("tlog: a checkpoint origin is one non-empty line")
	}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, signer)
	if err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	return msg, nil
}

// ErrCheckpoint is returned for a checkpoint that is malformed, for
// another log, or not signed by the expected key.
var ErrCheckpoint = errors.New("tlog: invalid checkpoint")

// OpenCheckpoint verifies a signed checkpoint of the log named origin
// with verifier and parses it.
func OpenCheckpoint(msg []byte, origin string, verifier note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, fmt.Errorf("%w: fewer than three lines", ErrCheckpoint)
	}
	if lines[0] != origin {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, want %q", ErrCheckpoint, lines[0], origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: size %q", ErrCheckpoint, lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != Hasher.Size() {
		return Checkpoint{}, fmt.Errorf("%w: root hash", ErrCheckpoint)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root}, nil
}

// ErrRollback is wrapped by CheckPrefix's errors: the log is not an
// extension of a checkpoint it signed.
var ErrRollback = errors.New("tlog: the log does not extend a checkpoint it signed")

// CheckPrefix checks that the log of size size and root hash root (with
// stored nodes) extends checkpoint c: c is not larger, and a consistency
// proof from the stored nodes links c's root to root. A database rolled
// back to an earlier copy, or rewritten, fails it.
func CheckPrefix(ctx context.Context, nodes Nodes, c Checkpoint, size uint64, root []byte) error {
	if c.Size > size {
		return fmt.Errorf("%w: the checkpoint has %d records, the log %d (rolled back or truncated)", ErrRollback, c.Size, size)
	}
	if c.Size == size {
		if !bytes.Equal(c.Root, root) {
			return fmt.Errorf("%w: the root of the %d records differs from the checkpoint's (rewritten)", ErrRollback, size)
		}
		return nil
	}
	if c.Size == 0 {
		return nil
	}
	p, err := Consistency(ctx, nodes, c.Size, size)
	if err != nil {
		return err
	}
	if err := VerifyConsistency(c.Size, size, p, c.Root, root); err != nil {
		return fmt.Errorf("%w: the first %d records are not those the checkpoint signed (rewritten): %v", ErrRollback, c.Size, err)
	}
	return nil
}
