package crypt

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KeyStore keeps wrapped keysets: it is how the keyring persists keys, in
// the database beside the data they protect. The keyring never gives it
// an unwrapped key.
type KeyStore interface {
	// LoadKey returns the keyset stored under name, or ErrNoKey.
	LoadKey(ctx context.Context, name string) ([]byte, error)
	// CreateKey stores wrapped under name unless the name is taken, and
	// returns what is stored under it afterwards.
	CreateKey(ctx context.Context, name string, wrapped []byte) ([]byte, error)
	// ReplaceKey stores wrapped under name if what is stored is old,
	// otherwise it returns ErrKeyChanged.
	ReplaceKey(ctx context.Context, name string, old, wrapped []byte) error
	// ListKeys calls fn for every key whose name starts with prefix, with
	// when it was created and last replaced.
	ListKeys(ctx context.Context, prefix string, fn func(name string, wrapped []byte, created, updated time.Time) error) error
}

// Errors of the keyring. Opening sealed data fails with the flat ErrOpen.
var (
	ErrNoKey      = errors.New("crypt: no such key")
	ErrKeyChanged = errors.New("crypt: the key changed meanwhile")
	// ErrUnavailable wraps a failure of the KMS: nothing can be sealed or
	// opened until it answers again.
	ErrUnavailable = errors.New("crypt: the key management service is unavailable")
	// ErrErased is returned for data of an owner whose key was destroyed.
	ErrErased = errors.New("crypt: the data key was destroyed (erasure)")
)

// erasedMark stands under an erased owner's data-key name once the key is
// destroyed. It is no wrapped keyset: it tells every process sharing the
// store that the owner's compartment takes no new data, so that a write
// after the erasure is refused instead of sealed under a fresh key (which
// the erasure ledger would destroy again at the next start, with the
// acknowledged data).
var erasedMark = []byte("hestia:erased")

func isErased(wrapped []byte) bool { return bytes.Equal(wrapped, erasedMark) }

// Names of keysets in the KeyStore.
const (
	dekPrefix = "dek:" // + owner; "dek:" alone is the tenant's
	indexKey  = "index"
	auditKey  = "audit"
	backupKey = "backup"
	cursorKey = "cursor"
	// authKey seals the secrets of the authentication services: token
	// signing keys, MFA secrets (SealAuth).
	authKey = "auth"
	// auditTagKey computes the blind index of the patients an audit
	// record names (AuditTag). It is never rotated: a record's tags must
	// find it for as long as it is kept.
	auditTagKey = "audit-tag"
)

// KeyringConfig configures a keyring.
type KeyringConfig struct {
	KEK   tink.AEAD // the key-encryption key (a KMS key)
	Store KeyStore
	// CacheSize bounds the unwrapped data keys kept in memory (default
	// 10,000); CacheTTL how long one is used before it is read again, so
	// that a rotation by another process takes effect (default 1 minute).
	CacheSize int
	CacheTTL  time.Duration
}

// Keyring is the key hierarchy of one data directory: the KEK (in a KMS)
// wraps one data key per patient compartment (and one for the tenant), the
// blind-index key, the audit key, the backup key, the paging-cursor key
// and the key of authentication secrets. It is safe for concurrent use.
type Keyring struct {
	kek   tink.AEAD
	store KeyStore
	deks  *lru
	ttl   time.Duration

	index    atomic.Pointer[indexKeys]
	indexMu  sync.Mutex // serialises reloads of the index key
	mu       sync.RWMutex
	audit    tink.AEAD
	auditTag *indexPRF
	backup   tink.AEAD
	cursor   tink.AEAD
	auth     tink.AEAD

	hits, misses, kmsCalls atomic.Int64
}

// NewKeyring opens the keyring, creating the tenant-wide keys on first use.
func NewKeyring(ctx context.Context, cfg KeyringConfig) (*Keyring, error) {
	if cfg.KEK == nil || cfg.Store == nil {
		return nil, errors.New("crypt: a keyring needs a KEK and a key store")
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = time.Minute
	}
	k := &Keyring{kek: cfg.KEK, store: cfg.Store, deks: newLRU(cfg.CacheSize), ttl: cfg.CacheTTL}
	if err := k.loadTenantKeys(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyring) loadTenantKeys(ctx context.Context) error {
	if _, err := k.keyset(ctx, indexKey, prf.HMACSHA256PRFKeyTemplate()); err != nil {
		return err
	}
	if _, err := k.reloadIndex(ctx, true); err != nil {
		return err
	}
	th, err := k.keyset(ctx, auditTagKey, prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return err
	}
	tags, err := prf.NewPRFSet(th)
	if err != nil {
		return fmt.Errorf("crypt: %s key: %w", auditTagKey, err)
	}
	primary, err := th.Primary()
	if err != nil {
		return fmt.Errorf("crypt: %s key: %w", auditTagKey, err)
	}
	// The pooled HMAC of the index keys (checked against Tink's).
	auditTag, err := newIndexPRF(primary, tags.PRFs[tags.PrimaryID])
	if err != nil {
		return fmt.Errorf("crypt: %s key: %w", auditTagKey, err)
	}
	var aeads [4]tink.AEAD
	for i, name := range []string{auditKey, backupKey, cursorKey, authKey} {
		h, err := k.keyset(ctx, name, aead.AES256GCMKeyTemplate())
		if err != nil {
			return err
		}
		if aeads[i], err = aead.New(h); err != nil {
			return fmt.Errorf("crypt: %s key: %w", name, err)
		}
	}
	k.mu.Lock()
	k.audit, k.backup, k.cursor, k.auth = aeads[0], aeads[1], aeads[2], aeads[3]
	k.auditTag = auditTag
	k.mu.Unlock()
	return nil
}

// keyset loads the keyset name, creating it from tmpl if it does not exist.
func (k *Keyring) keyset(ctx context.Context, name string, tmpl *tinkpb.KeyTemplate) (*keyset.Handle, error) {
	wrapped, err := k.store.LoadKey(ctx, name)
	if errors.Is(err, ErrNoKey) {
		h, err := keyset.NewHandle(tmpl)
		if err != nil {
			return nil, fmt.Errorf("crypt: new %s key: %w", name, err)
		}
		w, err := k.wrap(name, h)
		if err != nil {
			return nil, err
		}
		if wrapped, err = k.store.CreateKey(ctx, name, w); err != nil {
			return nil, fmt.Errorf("crypt: store %s key: %w", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("crypt: load %s key: %w", name, err)
	}
	return k.unwrap(name, wrapped)
}

// wrap encrypts a keyset with the KEK, bound to its name.
func (k *Keyring) wrap(name string, h *keyset.Handle) ([]byte, error) {
	k.kmsCalls.Add(1)
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), k.kek, keysetAD(name)); err != nil {
		return nil, fmt.Errorf("%w: wrap %s: %v", ErrUnavailable, name, err)
	}
	return buf.Bytes(), nil
}

// unwrap decrypts a keyset wrapped by wrap. A KMS failure and a wrong or
// damaged keyset are told apart only as far as the KMS error says.
func (k *Keyring) unwrap(name string, wrapped []byte) (*keyset.Handle, error) {
	k.kmsCalls.Add(1)
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), k.kek, keysetAD(name))
	if err != nil {
		return nil, fmt.Errorf("%w: unwrap %s: %v", ErrUnavailable, name, err)
	}
	return h, nil
}

func keysetAD(name string) []byte { return []byte("hestia/keyset/" + name) }

// dek returns the data key of an owner ("" for the tenant), creating it on
// first use when create is set.
func (k *Keyring) dek(ctx context.Context, owner string, create bool) (tink.AEAD, error) {
	if a, ok := k.deks.get(owner, k.ttl); ok {
		k.hits.Add(1)
		return a, nil
	}
	k.misses.Add(1)
	name := dekPrefix + owner
	wrapped, err := k.store.LoadKey(ctx, name)
	switch {
	case errors.Is(err, ErrNoKey) && create:
		h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if err != nil {
			return nil, fmt.Errorf("crypt: new data key: %w", err)
		}
		w, err := k.wrap(name, h)
		if err != nil {
			return nil, err
		}
		if wrapped, err = k.store.CreateKey(ctx, name, w); err != nil {
			return nil, fmt.Errorf("crypt: store data key: %w", err)
		}
	case errors.Is(err, ErrNoKey):
		return nil, ErrErased
	case err != nil:
		return nil, fmt.Errorf("crypt: load data key: %w", err)
	}
	if isErased(wrapped) {
		return nil, ErrErased
	}
	h, err := k.unwrap(name, wrapped)
	if err != nil {
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("crypt: data key: %w", err)
	}
	k.deks.put(owner, a)
	return a, nil
}

// Seal encrypts plaintext with the owner's data key (AES-256-GCM), bound to
// ad (for a resource body: "Type/id/version").
func (k *Keyring) Seal(ctx context.Context, owner string, ad, plaintext []byte) ([]byte, error) {
	a, err := k.dek(ctx, owner, true)
	if err != nil {
		return nil, err
	}
	return a.Encrypt(plaintext, ad)
}

// Open decrypts what Seal sealed with the same owner and ad.
// A ciphertext that does not open with a cached key is tried once more
// with the keyset read afresh: another process may have rotated it.
func (k *Keyring) Open(ctx context.Context, owner string, ad, ciphertext []byte) ([]byte, error) {
	a, err := k.dek(ctx, owner, false)
	if err != nil {
		return nil, err
	}
	pt, err := a.Decrypt(ciphertext, ad)
	if err == nil {
		return pt, nil
	}
	k.deks.remove(owner)
	if a, err = k.dek(ctx, owner, false); err != nil {
		return nil, err
	}
	if pt, err = a.Decrypt(ciphertext, ad); err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// SealKeys seals a resource's index key list with its owner's data key; ref
// is "Type/id". It implements the store's KeyCipher.
//
// It never creates a data key: it runs inside the store's write
// transaction, after the body was sealed (which created the key), and an
// owner whose key is gone by then was erased meanwhile (ErrErased).
func (k *Keyring) SealKeys(owner, ref string, plain []byte) ([]byte, error) {
	a, err := k.dek(context.Background(), owner, false)
	if err != nil {
		return nil, err
	}
	return a.Encrypt(plain, KeysAD(ref))
}

// OpenKeys opens a key list sealed by SealKeys.
func (k *Keyring) OpenKeys(owner, ref string, sealed []byte) ([]byte, error) {
	return k.Open(context.Background(), owner, KeysAD(ref), sealed)
}

// Stats are the keyring's counters since it was opened.
type Stats struct {
	CacheHits, CacheMisses, KMSCalls int64
	CachedKeys                       int
}

// Stats returns the counters.
func (k *Keyring) Stats() Stats {
	return Stats{CacheHits: k.hits.Load(), CacheMisses: k.misses.Load(), KMSCalls: k.kmsCalls.Load(), CachedKeys: k.deks.len()}
}

// lru is a bounded cache of unwrapped data keys with an age limit.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recent
	byKey map[string]*list.Element
}

type lruEntry struct {
	owner  string
	aead   tink.AEAD
	loaded time.Time
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (c *lru) get(owner string, ttl time.Duration) (tink.AEAD, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[owner]
	if !ok {
		return nil, false
	}
	ent := e.Value.(*lruEntry)
	if time.Since(ent.loaded) > ttl {
		c.order.Remove(e)
		delete(c.byKey, owner)
		return nil, false
	}
	c.order.MoveToFront(e)
	return ent.aead, true
}

func (c *lru) put(owner string, a tink.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[owner]; ok {
		c.order.Remove(e)
	}
	c.byKey[owner] = c.order.PushFront(&lruEntry{owner: owner, aead: a, loaded: time.Now()})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*lruEntry).owner)
	}
}

func (c *lru) remove(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[owner]; ok {
		c.order.Remove(e)
		delete(c.byKey, owner)
	}
}

func (c *lru) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.byKey)
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// DestroyDataKey destroys an owner's data key (crypto-shredding): what it
// sealed can no longer be opened by anyone. The key is replaced in place
// by the erased mark (compare and swap, so that no write can create a new
// key in between), and from then on sealing for the owner fails with
// ErrErased in every process that shares the store (in another process
// once its cached key expires). An owner without a key gets the mark too.
// Destroying again is harmless. If the store can purge (KeyPurger), what
// it deleted is purged from its files.
func (k *Keyring) DestroyDataKey(ctx context.Context, owner string) error {
	if owner == "" {
		return errors.New("crypt: the tenant's data key is not destroyed by erasure")
	}
	name := dekPrefix + owner
	k.deks.remove(owner)
	for attempt := 0; ; attempt++ {
		old, err := k.store.LoadKey(ctx, name)
		switch {
		case errors.Is(err, ErrNoKey):
			old, err = k.store.CreateKey(ctx, name, erasedMark)
			if err != nil {
				return fmt.Errorf("crypt: destroy data key: %w", err)
			}
			if isErased(old) {
				k.deks.remove(owner)
				return nil
			}
			// A write created a key meanwhile: replace it too.
		case err != nil:
			return fmt.Errorf("crypt: destroy data key: %w", err)
		case isErased(old):
			return nil
		}
		err = k.store.ReplaceKey(ctx, name, old, erasedMark)
		if err == nil {
			k.deks.remove(owner)
			if p, ok := k.store.(KeyPurger); ok {
				if err := p.Purge(ctx); err != nil {
					return fmt.Errorf("crypt: destroy data key: purge: %w", err)
				}
			}
			return nil
		}
		if retry := errors.Is(err, ErrKeyChanged) || errors.Is(err, ErrNoKey); !retry || attempt >= 3 {
			return fmt.Errorf("crypt: destroy data key: %w", err)
		}
	}
}

// KeyPurger is a KeyStore that can remove what it deleted or replaced from
// its files (SQLite's WAL); DestroyDataKey purges after replacing a key.
type KeyPurger interface {
	Purge(ctx context.Context) error
}

// HasDataKey reports whether an owner's data key exists (and was not
// destroyed).
func (k *Keyring) HasDataKey(ctx context.Context, owner string) (bool, error) {
	w, err := k.store.LoadKey(ctx, dekPrefix+owner)
	if errors.Is(err, ErrNoKey) {
		return false, nil
	}
	return err == nil && !isErased(w), err
}

// CursorSealer seals paging cursors with the tenant's cursor key, so that
// links outlive a restart and work on every node.
func (k *Keyring) CursorSealer() *Sealer {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return &Sealer{a: k.cursor}
}

// KeyInfo describes one stored keyset, for status reports.
type KeyInfo struct {
	Name             string
	Keys             int // keys in the keyset: 1, plus older ones kept after a rotation
	Created, Updated time.Time
}

// Keys lists the stored keysets (unwrapping each, so it calls the KMS).
func (k *Keyring) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := k.store.ListKeys(ctx, "", func(name string, wrapped []byte, created, updated time.Time) error {
		if isErased(wrapped) {
			return nil // a destroyed data key: no keyset
		}
		h, err := k.unwrap(name, wrapped)
		if err != nil {
			return err
		}
		out = append(out, KeyInfo{Name: name, Keys: h.Len(), Created: created, Updated: updated})
		return nil
	})
	return out, err
}

// Rewrap wraps every stored keyset again under the KEK's current primary
// key (after a KEK rotation). progress, if not nil, is told how far it is.
func (k *Keyring) Rewrap(ctx context.Context, progress func(done, total int)) (int, error) {
	return k.eachKeyset(ctx, "", progress, func(name string, h *keyset.Handle) (*keyset.Handle, error) { return h, nil })
}

// RotateDataKeys adds a new primary key to every data keyset: new writes
// use it (in other processes once their cache refreshes); what older keys
// sealed still opens until ReencryptWith moves it.
func (k *Keyring) RotateDataKeys(ctx context.Context, progress func(done, total int)) (int, error) {
	n, err := k.eachKeyset(ctx, dekPrefix, progress, func(_ string, h *keyset.Handle) (*keyset.Handle, error) {
		m := keyset.NewManagerFromHandle(h)
		id, err := m.Add(aead.AES256GCMKeyTemplate())
		if err != nil {
			return nil, err
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, err
		}
		return m.Handle()
	})
	k.deks.clear()
	return n, err
}

// RetireOldDataKeys destroys the keys of every data keyset but its primary,
// once everything they sealed was sealed again with the primary.
func (k *Keyring) RetireOldDataKeys(ctx context.Context) (int, error) {
	n, err := k.eachKeyset(ctx, dekPrefix, nil, func(_ string, h *keyset.Handle) (*keyset.Handle, error) {
		m := keyset.NewManagerFromHandle(h)
		if err := retireAllButPrimary(h, m); err != nil {
			return nil, err
		}
		return m.Handle()
	})
	k.deks.clear()
	return n, err
}

// eachKeyset unwraps every keyset under prefix, lets change transform it,
// and stores it wrapped under the KEK's current primary (compare and swap:
// a keyset changed meanwhile is read again).
func (k *Keyring) eachKeyset(ctx context.Context, prefix string, progress func(done, total int), change func(name string, h *keyset.Handle) (*keyset.Handle, error)) (int, error) {
	type item struct {
		name    string
		wrapped []byte
	}
	var all []item
	if err := k.store.ListKeys(ctx, prefix, func(name string, wrapped []byte, _, _ time.Time) error {
		if !isErased(wrapped) {
			all = append(all, item{name, wrapped})
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for i, it := range all {
		for attempt := 0; ; attempt++ {
			h, err := k.unwrap(it.name, it.wrapped)
			if err != nil {
				return i, err
			}
			if h, err = change(it.name, h); err != nil {
				return i, fmt.Errorf("crypt: %s: %w", it.name, err)
			}
			w, err := k.wrap(it.name, h)
			if err != nil {
				return i, err
			}
			err = k.store.ReplaceKey(ctx, it.name, it.wrapped, w)
			if errors.Is(err, ErrKeyChanged) && attempt < 3 {
				it.wrapped, err = k.store.LoadKey(ctx, it.name)
				if errors.Is(err, ErrNoKey) || err == nil && isErased(it.wrapped) {
					break // erased meanwhile: nothing to rotate
				}
				if err != nil {
					return i, err
				}
				continue
			}
			if errors.Is(err, ErrNoKey) || errors.Is(err, ErrKeyChanged) && attempt >= 3 {
				break // erased meanwhile, or changing under us: leave it
			}
			if err != nil {
				return i, err
			}
			break
		}
		if progress != nil {
			progress(i+1, len(all))
		}
	}
	return len(all), nil
}

// Reseal opens what owner's key sealed (with any of its keys) and seals it
// again with the primary key; ad is the same.
func (k *Keyring) Reseal(ctx context.Context, owner string, ad, sealed []byte) ([]byte, error) {
	pt, err := k.Open(ctx, owner, ad, sealed)
	if err != nil {
		return nil, err
	}
	return k.Seal(ctx, owner, ad, pt)
}

// KeysAD is the associated data of a key list sealed by SealKeys.
func KeysAD(ref string) []byte { return []byte("keys:" + ref) }
