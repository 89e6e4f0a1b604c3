package crypt

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// Audit records open with the audit key only, and not as anything else;
// they survive the erasure of the patient they name.
func TestAuditRecords(t *testing.T) {
	ctx := context.Background()
	k := newTestKeyring(t, newKEK(t), newMemStore(), 10, time.Minute)
	rec := []byte(`{"resourceType":"AuditEvent","entity":[{"what":{"reference":"Patient/p1"}}]}`)
	sealed, err := k.SealAudit(rec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("Patient/p1")) {
		t.Fatal("the sealed record holds its text")
	}
	if got, err := k.OpenAudit(sealed); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("open: %q %v", got, err)
	}
	body, err := k.Seal(ctx, "p1", []byte("Patient/p1/1"), rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.OpenAudit(body); !errors.Is(err, ErrOpen) {
		t.Fatalf("a patient's body opened as an audit record: %v", err)
	}
	if _, err := k.Open(ctx, "p1", []byte("Patient/p1/1"), sealed); err == nil {
		t.Fatal("an audit record opened as a patient's body")
	}
	if err := k.DestroyDataKey(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if got, err := k.OpenAudit(sealed); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("after erasing the patient: %q %v", got, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := k.OpenAudit(tampered); !errors.Is(err, ErrOpen) {
		t.Fatalf("a changed record opened: %v", err)
	}
}
