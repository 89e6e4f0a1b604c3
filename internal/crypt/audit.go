package crypt

import (
	"fmt"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// auditAD binds sealed audit records to their purpose: a ciphertext of
// another kind under the same key does not open as one.
var auditAD = []byte("hestia/audit-record")

// SealAudit seals an audit record with the audit key, which is not a
// patient's: records survive the erasure of the patients they name.
func (k *Keyring) SealAudit(record []byte) ([]byte, error) {
	out, err := k.auditAEAD().Encrypt(record, auditAD)
	if err != nil {
		return nil, fmt.Errorf("crypt: seal audit record: %w", err)
	}
	return out, nil
}

// OpenAudit opens a record sealed by SealAudit.
func (k *Keyring) OpenAudit(sealed []byte) ([]byte, error) {
	out, err := k.auditAEAD().Decrypt(sealed, auditAD)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

func (k *Keyring) auditAEAD() tink.AEAD {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.audit
}

// AuditTagLen is the length of an audit record's patient tag.
const AuditTagLen = 16

// AuditTag is the blind index of a patient in audit records: HMAC-SHA256
// (the Tink PRF key of its own, computed with the index keys' pooled HMAC)
// of the patient id, truncated to AuditTagLen bytes. Records are found by
// patient through it without opening them.
func (k *Keyring) AuditTag(patient string) ([]byte, error) {
	k.mu.RLock()
	x := k.auditTag
	k.mu.RUnlock()
	return x.sum("patient\x00"+patient, AuditTagLen), nil
}

// noteKeyAD binds a sealed checkpoint-signing key to its purpose.
var noteKeyAD = []byte("hestia/audit-note-key")

// SealNoteKey seals the audit log's checkpoint-signing key (a note signer
// key, NewNoteKey) under the audit key, itself wrapped by the KEK: the
// signing key is never stored in the clear.
func (k *Keyring) SealNoteKey(signer string) ([]byte, error) {
	out, err := k.auditAEAD().Encrypt([]byte(signer), noteKeyAD)
	if err != nil {
		return nil, fmt.Errorf("crypt: seal note key: %w", err)
	}
	return out, nil
}

// OpenNoteKey opens a key sealed by SealNoteKey.
func (k *Keyring) OpenNoteKey(sealed []byte) (string, error) {
	out, err := k.auditAEAD().Decrypt(sealed, noteKeyAD)
	if err != nil {
		return "", ErrOpen
	}
	return string(out), nil
}
