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
