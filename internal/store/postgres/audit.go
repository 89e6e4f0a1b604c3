package postgres

import (
	"fmt"
	"strings"
)

// writeAudit queues the transaction's audit records in the transaction
// itself: they commit with its writes, or not at all.
func (w *writeTx) writeAudit() error {
	if len(w.audit) == 0 {
		return nil
	}
	args := make([]any, len(w.audit))
	for i, r := range w.audit {
		args[i] = r
	}
	q := `INSERT INTO audit_queue (record) VALUES ` + strings.TrimSuffix(strings.Repeat("(?), ", len(args)), ", ")
	if err := w.exec(q, args...); err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}
