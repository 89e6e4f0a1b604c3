// Package privacy holds the data-subject rights that outlive a database:
// the erasure ledger, which lists every patient whose data was erased so
// that an erasure is applied again to any database restored from before it.
//
// Invariants:
//   - An entry is durable (fsynced) before the erasure it announces starts.
//   - The ledger is only ever appended to.
//   - It holds patient ids (server-assigned, not PHI) and times, nothing else.
package privacy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Ledger is an append-only file of erasures, kept outside the database
// file: restoring the database does not restore an older ledger.
type Ledger struct {
	path string
	mu   sync.Mutex
}

// Entry is one erasure.
type Entry struct {
	Patient string    `json:"patient"`
	At      time.Time `json:"at"`
}

// OpenLedger opens (creating on first append) the ledger at path.
func OpenLedger(path string) *Ledger { return &Ledger{path: path} }

// Append records an erasure durably.
func (l *Ledger) Append(patient string, at time.Time) error {
	if patient == "" {
		return errors.New("privacy: an erasure names a patient")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return fmt.Errorf("privacy: ledger: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("privacy: ledger: %w", err)
	}
	line, err := json.Marshal(Entry{Patient: patient, At: at.UTC()})
	if err == nil {
		_, err = f.Write(append(line, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("privacy: ledger: %w", err)
	}
	return nil
}

// Entries lists the erasures, oldest first. A missing ledger is empty.
func (l *Ledger) Entries() ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("privacy: ledger: %w", err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Patient == "" {
			return nil, fmt.Errorf("privacy: ledger line %d is corrupt", n)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("privacy: ledger: %w", err)
	}
	return out, nil
}
