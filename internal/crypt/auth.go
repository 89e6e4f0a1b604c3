package crypt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v3"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// authAD binds sealed authentication secrets (signing keys, MFA secrets)
// to their purpose: a secret sealed for one purpose does not open as
// another.
func authAD(purpose string) []byte { return []byte("hestia/auth/" + purpose) }

// SealAuth seals a secret of the authentication services (a token-signing
// key, a TOTP secret) with the auth key, which the KEK wraps like every
// other key: such secrets are never stored in the clear.
func (k *Keyring) SealAuth(purpose string, secret []byte) ([]byte, error) {
	out, err := k.authAEAD().Encrypt(secret, authAD(purpose))
	if err != nil {
		return nil, fmt.Errorf("crypt: seal %s: %w", purpose, err)
	}
	return out, nil
}

// OpenAuth opens a secret sealed by SealAuth for the same purpose.
func (k *Keyring) OpenAuth(purpose string, sealed []byte) ([]byte, error) {
	out, err := k.authAEAD().Decrypt(sealed, authAD(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

func (k *Keyring) authAEAD() tink.AEAD {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.auth
}

// RandomSecret returns n bytes from the system's secure random source.
func RandomSecret(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypt: no randomness: " + err.Error())
	}
	return b
}

// RandomToken returns a URL-safe random string carrying n bytes of
// entropy (client secrets, one-time passwords of generated form).
func RandomToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(RandomSecret(n))
}

// HashToken is the stored form of a high-entropy secret (a client secret,
// a recovery code): SHA-256. Low-entropy secrets — passwords — use
// HashPassword instead.
func HashToken(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

// TokenMatches reports in constant time whether secret hashes to hash.
func TokenMatches(hash, secret []byte) bool {
	h := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(hash, h[:]) == 1
}

// Digest is the SHA-256 of s: a fixed-size key for a cache of verified
// tokens that never keeps the tokens themselves.
func Digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// JWK algorithms NewJWK generates keys for.
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256
	ES384 = "ES384" // ECDSA P-384 with SHA-384
	RS384 = "RS384" // RSASSA-PKCS1-v1_5 (3072-bit) with SHA-384
	EdDSA = "EdDSA" // Ed25519
)

// NewJWK generates a signing key pair for alg as JSON Web Keys (RFC 7517):
// the private key, which is secret, and the public key. Both carry alg,
// use "sig" and a key id that is the key's RFC 7638 thumbprint.
func NewJWK(alg string) (private, public []byte, err error) {
	var key crypto.Signer
	switch alg {
	case ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ES384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RS384:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("crypt: no JWK generation for algorithm %q", alg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("crypt: generate %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: key, Algorithm: alg, Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("crypt: %s key thumbprint: %w", alg, err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	if private, err = json.Marshal(jwk); err != nil {
		return nil, nil, fmt.Errorf("crypt: encode %s key: %w", alg, err)
	}
	if public, err = json.Marshal(jwk.Public()); err != nil {
		return nil, nil, fmt.Errorf("crypt: encode %s public key: %w", alg, err)
	}
	return private, public, nil
}
