package crypt

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// NewNoteKey generates an Ed25519 key pair for signed notes (the C2SP
// signed-note format of golang.org/x/mod/sumdb/note, which audit-log
// checkpoints use) under the key name name: the encoded signer key, which
// is secret, and the verifier key, which is published.
func NewNoteKey(name string) (signer, verifier string, err error) {
	s, v, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("crypt: note key %q: %w", name, err)
	}
	return s, v, nil
}
