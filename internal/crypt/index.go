package crypt

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/prf/hmacprf"
)

// The blind-index key is one Tink PRF keyset (HMAC-SHA256). Index rows are
// written with the forms its primary key gives; a lookup tries the forms
// under every key in it. Rotating it goes through phases, each stored in
// the keyset itself, so that every process can tell where a rotation
// stands and an interrupted one resumes:
//
//	IndexSteady    one key.
//	IndexAdded     a new key (the keyset's last) is in, not primary: lookups
//	               try both forms, rows are still written under the old key.
//	IndexPromoted  the new key is primary: rows are written under it, lookups
//	               still try both, and the rows written under the old key
//	               are rebuilt under the new one.
//	(retired)      the old key is destroyed: IndexSteady again.
//
// A process reads the keyset again when it changed, at most CacheTTL after
// the change (comparing the wrapped bytes, so an unchanged key costs a
// database read and no KMS call). Whoever rotates waits that long between
// phases, so that no process writes under a key that another does not yet
// look up, and the rebuild starts only once no process writes under the
// old key.

// IndexLen is the length in bytes of a blind-index value: 128 bits of
// HMAC-SHA256 output.
const IndexLen = 16

// IndexPhase is how far a rotation of the blind-index key has gone.
type IndexPhase int

// Phases of a rotation of the blind-index key (see above).
const (
	IndexSteady IndexPhase = iota
	IndexAdded
	IndexPromoted
)

func (p IndexPhase) String() string {
	switch p {
	case IndexSteady:
		return "steady"
	case IndexAdded:
		return "new key added, not yet in use for writes"
	case IndexPromoted:
		return "new key in use; rows under the old key await rebuilding"
	}
	return fmt.Sprintf("IndexPhase(%d)", int(p))
}

// indexKeys is the unwrapped blind-index keyset of one moment.
type indexKeys struct {
	lookup  []*indexPRF // the keys whose forms a lookup tries, primary first
	wrapped []byte
	checked time.Time
}

// indexPRF computes HMAC-SHA256 under one key of the index keyset: the
// Tink HMAC PRF, with the standard library's HMAC kept in a pool, since
// Tink's sets up a new HMAC (two extra SHA-256 blocks and allocations) for
// every value and index forms are computed for every index row. Loading
// checks that both give the same output.
//
// Forms of token systems (field SystemField) are remembered, up to
// memoMax of them: a few code systems and identifier namespaces recur in
// almost every resource, and they are names of namespaces, never patient
// data. No other value is kept.
type indexPRF struct {
	pool sync.Pool // of *hmacState

	mu   sync.RWMutex
	memo map[[2]string]string // (parameter, system) → form
}

type hmacState struct {
	h  hash.Hash
	in []byte
}

// SystemField is the field of a token's system in an index form (see
// search.Keyed): the one whose forms are remembered.
const SystemField = "s"

const memoMax = 4096

func newIndexPRF(e *keyset.Entry, tinkPRF prf.PRF) (*indexPRF, error) {
	k, ok := e.Key().(*hmacprf.Key)
	if !ok {
		return nil, fmt.Errorf("crypt: index key %d is %T, not an HMAC PRF key", e.KeyID(), e.Key())
	}
	if p, ok := k.Parameters().(*hmacprf.Parameters); !ok || p.HashType() != hmacprf.SHA256 {
		return nil, fmt.Errorf("crypt: index key %d is not HMAC-SHA256", e.KeyID())
	}
	key := k.KeyBytes().Data(insecuresecretdataaccess.Token{})
	x := &indexPRF{memo: make(map[[2]string]string)}
	x.pool.New = func() any { return &hmacState{h: hmac.New(sha256.New, key)} }
	const probe = "hestia/index/self-check"
	want, err := tinkPRF.ComputePRF(indexInput(probe, probe, probe), IndexLen)
	if err != nil {
		return nil, fmt.Errorf("crypt: index key %d: %w", e.KeyID(), err)
	}
	if got := x.compute(probe, probe, probe); got != string(want) {
		return nil, fmt.Errorf("crypt: index key %d: HMAC differs from Tink's", e.KeyID())
	}
	return x, nil
}

// sum is the HMAC of in, truncated to n bytes.
func (x *indexPRF) sum(in string, n int) []byte {
	st := x.pool.Get().(*hmacState)
	st.h.Reset()
	io.WriteString(st.h, in)
	var buf [sha256.Size]byte
	out := append([]byte(nil), st.h.Sum(buf[:0])[:n]...)
	x.pool.Put(st)
	return out
}

// form is the index form of (param, field, value).
func (x *indexPRF) form(param, field, value string) string {
	if field != SystemField {
		return x.compute(param, field, value)
	}
	k := [2]string{param, value}
	x.mu.RLock()
	f, ok := x.memo[k]
	x.mu.RUnlock()
	if ok {
		return f
	}
	f = x.compute(param, field, value)
	x.mu.Lock()
	if len(x.memo) < memoMax {
		x.memo[k] = f
	}
	x.mu.Unlock()
	return f
}

// compute is the first IndexLen bytes of HMAC-SHA256(key, input).
func (x *indexPRF) compute(param, field, value string) string {
	st := x.pool.Get().(*hmacState)
	st.in = appendInput(st.in[:0], param, field, value)
	st.h.Reset()
	st.h.Write(st.in)
	var buf [sha256.Size]byte
	out := string(st.h.Sum(buf[:0])[:IndexLen])
	if cap(st.in) <= 4096 {
		x.pool.Put(st)
	}
	return out
}

// IndexForm is the blind-index form rows are written with: HMAC-SHA256
// (Tink PRF) under the index key's primary, truncated to IndexLen bytes, of
// the parameter key, the field and the value, each length-prefixed so no
// two inputs collide.
func (k *Keyring) IndexForm(param, field, value string) (string, error) {
	st, err := k.indexKeys()
	if err != nil {
		return "", err
	}
	return st.lookup[0].form(param, field, value), nil
}

// IndexForms are the forms a lookup of a value tries: one per key of the
// index keyset (two during a rotation), the primary's first.
func (k *Keyring) IndexForms(param, field, value string) ([]string, error) {
	st, err := k.indexKeys()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(st.lookup))
	for i, x := range st.lookup {
		out[i] = x.form(param, field, value)
	}
	return out, nil
}

func indexInput(param, field, value string) []byte {
	return appendInput(make([]byte, 0, 12+len(param)+len(field)+len(value)), param, field, value)
}

func appendInput(in []byte, param, field, value string) []byte {
	for _, s := range []string{param, field, value} {
		in = appendLen(in, len(s))
		in = append(in, s...)
	}
	return in
}

func appendLen(b []byte, n int) []byte {
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// indexKeys returns the index keyset, read again if it was last checked
// more than the cache lifetime ago.
func (k *Keyring) indexKeys() (*indexKeys, error) {
	if st := k.index.Load(); st != nil && time.Since(st.checked) < k.ttl {
		return st, nil
	}
	return k.reloadIndex(context.Background(), false)
}

// reloadIndex reads the index keyset from the store, unwrapping it only if
// it changed (or force is set).
func (k *Keyring) reloadIndex(ctx context.Context, force bool) (*indexKeys, error) {
	k.indexMu.Lock()
	defer k.indexMu.Unlock()
	old := k.index.Load()
	if !force && old != nil && time.Since(old.checked) < k.ttl {
		return old, nil // another caller reloaded it meanwhile
	}
	wrapped, err := k.store.LoadKey(ctx, indexKey)
	if err != nil {
		return nil, fmt.Errorf("crypt: load index key: %w", err)
	}
	if !force && old != nil && bytes.Equal(wrapped, old.wrapped) {
		st := *old
		st.checked = time.Now()
		k.index.Store(&st)
		return &st, nil
	}
	h, err := k.unwrap(indexKey, wrapped)
	if err != nil {
		return nil, err
	}
	set, err := prf.NewPRFSet(h)
	if err != nil {
		return nil, fmt.Errorf("crypt: index key: %w", err)
	}
	st := &indexKeys{wrapped: wrapped, checked: time.Now()}
	var others []*indexPRF
	for i := 0; i < h.Len(); i++ {
		e, err := h.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("crypt: index key: %w", err)
		}
		p, ok := set.PRFs[e.KeyID()]
		if !ok || e.KeyStatus() != keyset.Enabled {
			continue
		}
		x, err := newIndexPRF(e, p)
		if err != nil {
			return nil, err
		}
		if e.KeyID() == set.PrimaryID {
			st.lookup = append(st.lookup, x)
		} else {
			others = append(others, x)
		}
	}
	if len(st.lookup) != 1 {
		return nil, errors.New("crypt: the index keyset has no enabled primary key")
	}
	st.lookup = append(st.lookup, others...)
	k.index.Store(st)
	return st, nil
}

func indexPhase(h *keyset.Handle) (IndexPhase, error) {
	if h.Len() <= 1 {
		return IndexSteady, nil
	}
	last, err := h.Entry(h.Len() - 1)
	if err != nil {
		return 0, err
	}
	if last.IsPrimary() {
		return IndexPromoted, nil
	}
	return IndexAdded, nil
}

// IndexRotation reports the phase of the blind-index key's rotation and
// when the key last changed.
func (k *Keyring) IndexRotation(ctx context.Context) (IndexPhase, time.Time, error) {
	var (
		phase   IndexPhase
		changed time.Time
		found   bool
	)
	err := k.store.ListKeys(ctx, indexKey, func(name string, wrapped []byte, _, updated time.Time) error {
		if name != indexKey {
			return nil
		}
		h, err := k.unwrap(name, wrapped)
		if err != nil {
			return err
		}
		found, changed = true, updated
		phase, err = indexPhase(h)
		return err
	})
	if err == nil && !found {
		err = ErrNoKey
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("crypt: index key: %w", err)
	}
	return phase, changed, nil
}

// ErrPhaseChanged is returned by AdvanceIndexRotation when the rotation is
// no longer in the phase the caller saw (another process moved it on).
var ErrPhaseChanged = errors.New("crypt: the index key rotation moved on meanwhile")

// AdvanceIndexRotation moves the rotation of the blind-index key from phase
// from to the next: it adds a new key, makes it primary, or destroys the
// old key (the caller must have rebuilt every index row under the new one
// first). It returns the new phase. This process uses the new keyset at
// once; others within the cache lifetime.
func (k *Keyring) AdvanceIndexRotation(ctx context.Context, from IndexPhase) (IndexPhase, error) {
	var next IndexPhase
	_, err := k.eachKeyset(ctx, indexKey, nil, func(name string, h *keyset.Handle) (*keyset.Handle, error) {
		if name != indexKey {
			return h, nil
		}
		phase, err := indexPhase(h)
		if err != nil {
			return nil, err
		}
		if phase != from {
			return nil, ErrPhaseChanged
		}
		m := keyset.NewManagerFromHandle(h)
		switch phase {
		case IndexSteady:
			_, err = m.Add(prf.HMACSHA256PRFKeyTemplate())
			next = IndexAdded
		case IndexAdded:
			var last *keyset.Entry
			if last, err = h.Entry(h.Len() - 1); err == nil {
				err = m.SetPrimary(last.KeyID())
			}
			next = IndexPromoted
		case IndexPromoted:
			err = retireAllButPrimary(h, m)
			next = IndexSteady
		}
		if err != nil {
			return nil, err
		}
		return m.Handle()
	})
	if err != nil {
		return from, err
	}
	if _, err := k.reloadIndex(ctx, true); err != nil {
		return next, err
	}
	return next, nil
}

// retireAllButPrimary disables and deletes every key of h but its primary.
func retireAllButPrimary(h *keyset.Handle, m *keyset.Manager) error {
	p, err := h.Primary()
	if err != nil {
		return err
	}
	for i := 0; i < h.Len(); i++ {
		e, err := h.Entry(i)
		if err != nil {
			return err
		}
		if e.KeyID() == p.KeyID() {
			continue
		}
		if err := m.Disable(e.KeyID()); err != nil {
			return err
		}
		if err := m.Delete(e.KeyID()); err != nil {
			return err
		}
	}
	return nil
}
