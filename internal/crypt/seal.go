// Package crypt holds Hestia's cryptography, built on Tink and the
// standard library; no other package constructs cryptographic primitives.
//
// Invariants:
//   - Only this package (and the token code of internal/oauth) imports
//     crypto/* packages other than crypto/tls; TestImports enforces it.
//   - Errors from opening sealed data are flat: they never say which check
//     failed.
package crypt

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrOpen is returned for any token that does not open.
var ErrOpen = errors.New("crypt: invalid or tampered token")

// Sealer seals small opaque tokens (such as search paging cursors) with
// AES-256-GCM under a key that lives only in memory: tokens stop opening
// when the process restarts.
type Sealer struct {
	a tink.AEAD
}

// NewSealer returns a sealer with a fresh random key.
func NewSealer() (*Sealer, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("crypt: new sealer key: %w", err)
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("crypt: new sealer: %w", err)
	}
	return &Sealer{a: a}, nil
}

// Seal encrypts plaintext bound to context and returns a URL-safe token.
func (s *Sealer) Seal(plaintext, context []byte) (string, error) {
	ct, err := s.a.Encrypt(plaintext, context)
	if err != nil {
		return "", fmt.Errorf("crypt: seal: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a token made by Seal with the same context.
func (s *Sealer) Open(token string, context []byte) ([]byte, error) {
	ct, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, ErrOpen
	}
	pt, err := s.a.Decrypt(ct, context)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
