package access

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Holder is the policy in force: Rules that an administrator's edit of the
// policy file replaces without a restart. A file that does not parse is
// refused and the policy in force stays (it never falls back to a wider
// one).
type Holder struct {
	path  string
	rules atomic.Pointer[Rules]

	mu   sync.Mutex // serialises Reload
	last []byte     // the content in force
}

// LoadPolicy reads a policy file; with an empty path it holds
// DefaultPolicy (and Reload does nothing).
func LoadPolicy(path string) (*Holder, error) {
	h := &Holder{path: path}
	data := DefaultPolicy
	if path != "" {
		var err error
		if data, err = readPolicy(path); err != nil {
			return nil, err
		}
	}
	r, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.name(), err)
	}
	h.rules.Store(r)
	h.last = data
	return h, nil
}

func (h *Holder) name() string {
	if h.path == "" {
		return "default policy"
	}
	return h.path
}

func readPolicy(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return data, nil
}

// Rules returns the policy in force.
func (h *Holder) Rules() *Rules { return h.rules.Load() }

// Decide implements Policy with the rules in force.
func (h *Holder) Decide(ctx context.Context, r *Request) Decision {
	return h.rules.Load().Decide(ctx, r)
}

// Reload reads the policy file again. It reports whether the policy in
// force changed; an error leaves the policy in force as it was.
func (h *Holder) Reload() (changed bool, err error) {
	if h.path == "" {
		return false, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	data, err := readPolicy(h.path)
	if err != nil {
		return false, err
	}
	if bytes.Equal(data, h.last) {
		return false, nil
	}
	r, err := ParsePolicy(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", h.path, err)
	}
	h.rules.Store(r)
	h.last = data
	return true, nil
}

var _ Policy = (*Holder)(nil)
