package crypt

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// memStore is a KeyStore in memory.
type memStore struct {
	mu   sync.Mutex
	keys map[string][]byte
	upd  map[string]time.Time
}

func newMemStore() *memStore {
	return &memStore{keys: map[string][]byte{}, upd: map[string]time.Time{}}
}

func (m *memStore) LoadKey(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.keys[name]
	if !ok {
		return nil, ErrNoKey
	}
	return w, nil
}

func (m *memStore) CreateKey(_ context.Context, name string, wrapped []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.keys[name]; ok {
		return w, nil
	}
	m.keys[name], m.upd[name] = wrapped, time.Now()
	return wrapped, nil
}

func (m *memStore) ReplaceKey(_ context.Context, name string, old, wrapped []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.keys[name]
	if !ok {
		return ErrNoKey
	}
	if !bytes.Equal(w, old) {
		return ErrKeyChanged
	}
	m.keys[name], m.upd[name] = wrapped, time.Now()
	return nil
}

func (m *memStore) ListKeys(_ context.Context, prefix string, fn func(string, []byte, time.Time, time.Time) error) error {
	m.mu.Lock()
	var names []string
	for n := range m.keys {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	type kv struct {
		w []byte
		t time.Time
	}
	vals := make([]kv, len(names))
	for i, n := range names {
		vals[i] = kv{m.keys[n], m.upd[n]}
	}
	m.mu.Unlock()
	for i, n := range names {
		if err := fn(n, vals[i].w, vals[i].t, vals[i].t); err != nil {
			return err
		}
	}
	return nil
}

// countingKEK counts the calls to a KEK and can fail them.
type countingKEK struct {
	a     tink.AEAD
	calls atomic.Int64
	down  atomic.Bool
}

func (c *countingKEK) Encrypt(p, ad []byte) ([]byte, error) {
	c.calls.Add(1)
	if c.down.Load() {
		return nil, errors.New("kms down")
	}
	return c.a.Encrypt(p, ad)
}

func (c *countingKEK) Decrypt(p, ad []byte) ([]byte, error) {
	c.calls.Add(1)
	if c.down.Load() {
		return nil, errors.New("kms down")
	}
	return c.a.Decrypt(p, ad)
}

func newKEK(t *testing.T) *countingKEK {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return &countingKEK{a: a}
}

func newTestKeyring(t *testing.T, kek tink.AEAD, store KeyStore, size int, ttl time.Duration) *Keyring {
	t.Helper()
	k, err := NewKeyring(context.Background(), KeyringConfig{KEK: kek, Store: store, CacheSize: size, CacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringSealsPerOwnerBoundToAD(t *testing.T) {
	ctx := context.Background()
	k := newTestKeyring(t, newKEK(t), newMemStore(), 10, time.Minute)
	ct, err := k.Seal(ctx, "p1", []byte("Patient/p1/1"), []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open(ctx, "p1", []byte("Patient/p1/1"), ct); err != nil || string(pt) != "body" {
		t.Fatalf("open: %q, %v", pt, err)
	}
	if _, err := k.Open(ctx, "p1", []byte("Patient/p1/2"), ct); !errors.Is(err, ErrOpen) {
		t.Fatalf("open with another version's AD: %v, want ErrOpen", err)
	}
	if _, err := k.Seal(ctx, "p2", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ctx, "p2", []byte("Patient/p1/1"), ct); !errors.Is(err, ErrOpen) {
		t.Fatalf("open with another owner's key: %v, want ErrOpen", err)
	}
	// An owner without a key was erased: opening says so, and does not
	// create a key.
	if _, err := k.Open(ctx, "p3", nil, ct); !errors.Is(err, ErrErased) {
		t.Fatalf("open for an owner without a key: %v, want ErrErased", err)
	}
	if ok, _ := k.HasDataKey(ctx, "p3"); ok {
		t.Fatal("opening created a data key")
	}
	if err := k.DestroyDataKey(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ctx, "p1", []byte("Patient/p1/1"), ct); !errors.Is(err, ErrErased) {
		t.Fatalf("open after the key was destroyed: %v, want ErrErased", err)
	}
	if err := k.DestroyDataKey(ctx, ""); err == nil {
		t.Fatal("the tenant's data key was destroyed")
	}
}

// An erased owner's compartment takes no new data: sealing fails with
// ErrErased, in this keyring and in another one on the same store (a
// second node), instead of creating a fresh key that the erasure ledger
// would destroy at the next start with what it sealed. Rotations, rewraps
// and status listings pass over the erased mark; destroying again, or
// destroying an owner that never had a key, leaves the mark.
func TestKeyringErasedOwnerTakesNoNewData(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	kek := newKEK(t)
	k := newTestKeyring(t, kek, store, 10, time.Minute)
	other := newTestKeyring(t, kek, store, 10, time.Minute)
	for _, owner := range []string{"p1", "p2"} {
		if _, err := k.Seal(ctx, owner, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.DestroyDataKey(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	for name, kr := range map[string]*Keyring{"same keyring": k, "other keyring": other} {
		if _, err := kr.Seal(ctx, "p1", nil, []byte("y")); !errors.Is(err, ErrErased) {
			t.Fatalf("%s: seal for an erased owner: %v, want ErrErased", name, err)
		}
		if ok, err := kr.HasDataKey(ctx, "p1"); ok || err != nil {
			t.Fatalf("%s: HasDataKey of an erased owner: %v, %v", name, ok, err)
		}
	}
	if w := store.keys[dekPrefix+"p1"]; !isErased(w) {
		t.Fatalf("the erased owner's key name holds %d bytes, not the erased mark", len(w))
	}
	// Never had a key: destroying marks it all the same; again is harmless.
	for _, owner := range []string{"p3", "p3", "p1"} {
		if err := k.DestroyDataKey(ctx, owner); err != nil {
			t.Fatalf("destroy %s: %v", owner, err)
		}
	}
	if _, err := k.Seal(ctx, "p3", nil, []byte("y")); !errors.Is(err, ErrErased) {
		t.Fatalf("seal for an owner erased before it had a key: %v, want ErrErased", err)
	}
	// The marks are no keysets: every pass over the keysets skips them.
	if n, err := k.RotateDataKeys(ctx, nil); err != nil || n != 1 {
		t.Fatalf("RotateDataKeys: %d, %v; want p2's key alone", n, err)
	}
	if _, err := k.RetireOldDataKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rewrap(ctx, nil); err != nil {
		t.Fatal(err)
	}
	infos, err := k.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ki := range infos {
		if ki.Name == dekPrefix+"p1" || ki.Name == dekPrefix+"p3" {
			t.Errorf("Keys lists the erased %s", ki.Name)
		}
	}
	if !isErased(store.keys[dekPrefix+"p1"]) || !isErased(store.keys[dekPrefix+"p3"]) {
		t.Fatal("a pass over the keysets replaced an erased mark")
	}
	if _, err := k.Seal(ctx, "p2", nil, []byte("z")); err != nil {
		t.Fatalf("a live owner after the passes: %v", err)
	}
}

// The KMS is called only on a cache miss; the cache is bounded; an entry
// expires after the TTL.
func TestKeyringCacheBoundsKMSCalls(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	store := newMemStore()
	k := newTestKeyring(t, kek, store, 2, time.Minute)
	for _, o := range []string{"a", "b", "c"} {
		if _, err := k.Seal(ctx, o, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh keyring: nothing cached.
	k = newTestKeyring(t, kek, store, 2, time.Minute)
	base := kek.calls.Load()
	for range 100 {
		if _, err := k.Seal(ctx, "a", nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if got := kek.calls.Load() - base; got != 1 {
		t.Fatalf("100 seals for one owner called the KMS %d times, want 1", got)
	}
	st := k.Stats()
	if st.CacheHits != 99 || st.CacheMisses != 1 {
		t.Fatalf("stats %+v, want 99 hits and 1 miss", st)
	}
	for _, o := range []string{"b", "c"} {
		if _, err := k.Seal(ctx, o, nil, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if st := k.Stats(); st.CachedKeys != 2 {
		t.Fatalf("%d keys cached, bound is 2", st.CachedKeys)
	}
	base = kek.calls.Load()
	if _, err := k.Seal(ctx, "a", nil, []byte("x")); err != nil { // evicted
		t.Fatal(err)
	}
	if kek.calls.Load()-base != 1 {
		t.Fatal("an evicted key was not read again")
	}

	k = newTestKeyring(t, kek, store, 10, 20*time.Millisecond)
	if _, err := k.Seal(ctx, "a", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	base = kek.calls.Load()
	if _, err := k.Seal(ctx, "a", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if kek.calls.Load()-base != 1 {
		t.Fatal("an expired key was not read again")
	}
}

func TestKeyringKMSDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	k := newTestKeyring(t, kek, newMemStore(), 10, time.Minute)
	kek.down.Store(true)
	if _, err := k.Seal(ctx, "new", nil, []byte("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("seal with the KMS down: %v, want ErrUnavailable", err)
	}
	kek.down.Store(false)
	if _, err := k.Seal(ctx, "new", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// A data-key rotation: new seals use the new version, old ciphertexts
// still open until re-sealed, and after retiring the old version only
// re-sealed ones do.
func TestKeyringDataKeyRotation(t *testing.T) {
	ctx := context.Background()
	k := newTestKeyring(t, newKEK(t), newMemStore(), 10, time.Minute)
	ad := []byte("Patient/p/1")
	old, err := k.Seal(ctx, "p", ad, []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := k.RotateDataKeys(ctx, nil); err != nil || n != 1 {
		t.Fatalf("rotated %d: %v", n, err)
	}
	if _, err := k.Open(ctx, "p", ad, old); err != nil {
		t.Fatalf("an old ciphertext after rotation: %v", err)
	}
	resealed, err := k.Reseal(ctx, "p", ad, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.RetireOldDataKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ctx, "p", ad, old); !errors.Is(err, ErrOpen) {
		t.Fatalf("a ciphertext of a retired version: %v, want ErrOpen", err)
	}
	if pt, err := k.Open(ctx, "p", ad, resealed); err != nil || string(pt) != "v1" {
		t.Fatalf("a re-sealed ciphertext: %q, %v", pt, err)
	}
}

// Rewrap under a rotated KEK: every keyset is wrapped again, and data keys
// still open what they sealed.
func TestKeyringRewrap(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	k := newTestKeyring(t, newKEK(t), store, 10, time.Minute)
	ct, err := k.Seal(ctx, "p", nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for n, w := range store.keys {
		before[n] = w
	}
	n, err := k.Rewrap(ctx, nil)
	if err != nil || n != len(before) {
		t.Fatalf("re-wrapped %d of %d: %v", n, len(before), err)
	}
	for name, w := range store.keys {
		if bytes.Equal(w, before[name]) {
			t.Errorf("%s was not re-wrapped", name)
		}
	}
	k.deks.clear()
	if _, err := k.Open(ctx, "p", nil, ct); err != nil {
		t.Fatal(err)
	}
}

// The blind-index key rotates in phases; another keyring on the same store
// follows within its cache lifetime, and lookups find rows written under
// either key until the old one is destroyed.
func TestIndexKeyRotation(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	store := newMemStore()
	const ttl = 30 * time.Millisecond
	rot := newTestKeyring(t, kek, store, 10, ttl)
	srv := newTestKeyring(t, kek, store, 10, ttl)

	form := func(k *Keyring) string {
		f, err := k.IndexForm("Patient.name", "e", "Smith")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	forms := func(k *Keyring) []string {
		f, err := k.IndexForms("Patient.name", "e", "Smith")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	oldForm := form(srv)
	if len(oldForm) != IndexLen {
		t.Fatalf("form of %d bytes", len(oldForm))
	}
	if form(rot) != oldForm {
		t.Fatal("two keyrings on one store give different forms")
	}
	if other, _ := srv.IndexForm("Patient.family", "e", "Smith"); other == oldForm {
		t.Fatal("forms are not separated by parameter")
	}
	if f := forms(srv); len(f) != 1 || f[0] != oldForm {
		t.Fatalf("steady lookups %x", f)
	}

	phase, _, err := rot.IndexRotation(ctx)
	if err != nil || phase != IndexSteady {
		t.Fatalf("phase %v, %v", phase, err)
	}
	if phase, err = rot.AdvanceIndexRotation(ctx, IndexSteady); err != nil || phase != IndexAdded {
		t.Fatalf("add: %v, %v", phase, err)
	}
	if _, err := srv.AdvanceIndexRotation(ctx, IndexSteady); !errors.Is(err, ErrPhaseChanged) {
		t.Fatalf("advancing from a phase that passed: %v, want ErrPhaseChanged", err)
	}
	// Added: writes still use the old key; lookups try both.
	if form(rot) != oldForm {
		t.Fatal("a key that is only added is used for writes")
	}
	f := forms(rot)
	if len(f) != 2 || f[0] != oldForm || f[1] == oldForm {
		t.Fatalf("lookups while added: %x", f)
	}
	newForm := f[1]
	time.Sleep(2 * ttl)
	if f := forms(srv); len(f) != 2 || f[1] != newForm {
		t.Fatalf("the other keyring did not follow within its cache lifetime: %x", f)
	}

	if phase, err = rot.AdvanceIndexRotation(ctx, IndexAdded); err != nil || phase != IndexPromoted {
		t.Fatalf("promote: %v, %v", phase, err)
	}
	if form(rot) != newForm {
		t.Fatal("the promoted key is not used for writes")
	}
	if f := forms(rot); len(f) != 2 || f[0] != newForm || f[1] != oldForm {
		t.Fatalf("lookups while promoted: %x", f)
	}
	time.Sleep(2 * ttl)
	if form(srv) != newForm {
		t.Fatal("the other keyring does not write under the promoted key")
	}

	if phase, err = rot.AdvanceIndexRotation(ctx, IndexPromoted); err != nil || phase != IndexSteady {
		t.Fatalf("retire: %v, %v", phase, err)
	}
	if f := forms(rot); len(f) != 1 || f[0] != newForm {
		t.Fatalf("lookups after retiring: %x", f)
	}
	// A keyring opened now knows only the new key.
	if f := forms(newTestKeyring(t, kek, store, 10, ttl)); len(f) != 1 || f[0] != newForm {
		t.Fatalf("a fresh keyring's lookups: %x", f)
	}

	// An unchanged key is checked without calling the KMS.
	time.Sleep(2 * ttl)
	form(srv)
	base := kek.calls.Load()
	for range 3 {
		time.Sleep(2 * ttl)
		form(srv)
	}
	if kek.calls.Load() != base {
		t.Fatalf("checking an unchanged index key called the KMS %d times", kek.calls.Load()-base)
	}
}

// Index forms are Tink's HMAC-SHA256 PRF output, truncated: data indexed
// before the pooled HMAC was introduced (or by another implementation of
// the same construction) stays searchable.
func TestIndexFormIsTinkPRF(t *testing.T) {
	store := newMemStore()
	k := newTestKeyring(t, newKEK(t), store, 10, time.Minute)
	h, err := k.unwrap(indexKey, store.keys[indexKey])
	if err != nil {
		t.Fatal(err)
	}
	set, err := prf.NewPRFSet(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "Smith", "smit", "http://loinc.org", strings.Repeat("ü", 200)} {
		got, err := k.IndexForm("Patient.name", "e", v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := set.ComputePrimaryPRF(indexInput("Patient.name", "e", v), IndexLen)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Fatalf("form of %q differs from Tink's PRF", v)
		}
	}
	// Only token systems are remembered; a remembered form is the same.
	x := k.index.Load().lookup[0]
	if len(x.memo) != 0 {
		t.Fatalf("%d values remembered that are not systems", len(x.memo))
	}
	for range 2 {
		got, _ := k.IndexForm("Observation.code", SystemField, "http://loinc.org")
		want, _ := set.ComputePrimaryPRF(indexInput("Observation.code", SystemField, "http://loinc.org"), IndexLen)
		if got != string(want) {
			t.Fatal("a remembered system form differs from Tink's PRF")
		}
	}
	if len(x.memo) != 1 {
		t.Fatalf("%d systems remembered, want 1", len(x.memo))
	}
}

func BenchmarkIndexForm(b *testing.B) {
	store := newMemStore()
	h, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	a, _ := aead.New(h)
	k, err := NewKeyring(context.Background(), KeyringConfig{KEK: a, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.IndexForm("http://hl7.org/fhir/SearchParameter/clinical-code", "c", "8867-4"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTinkPRF is Tink's own HMAC PRF on the same input, for comparison
// with BenchmarkIndexForm.
func BenchmarkTinkPRF(b *testing.B) {
	h, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	set, err := prf.NewPRFSet(h)
	if err != nil {
		b.Fatal(err)
	}
	in := indexInput("http://hl7.org/fhir/SearchParameter/clinical-code", "c", "8867-4")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := set.ComputePrimaryPRF(in, IndexLen); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Audit tags are a keyed function of the patient: stable across opens of
// the keyring (and KEK rewraps), distinct per patient and per keyring.
func TestAuditTag(t *testing.T) {
	ctx := context.Background()
	kek, store := newKEK(t), newMemStore()
	k := newTestKeyring(t, kek, store, 10, time.Minute)
	a1, err := k.AuditTag("p1")
	if err != nil || len(a1) != AuditTagLen {
		t.Fatalf("tag %x, %v", a1, err)
	}
	b, _ := k.AuditTag("p2")
	if bytes.Equal(a1, b) {
		t.Fatal("two patients share a tag")
	}
	if _, err := k.Rewrap(ctx, nil); err != nil {
		t.Fatal(err)
	}
	again, _ := newTestKeyring(t, kek, store, 10, time.Minute).AuditTag("p1")
	if !bytes.Equal(a1, again) {
		t.Fatal("the tag changed when the keyring was opened again")
	}
	other, _ := newTestKeyring(t, newKEK(t), newMemStore(), 10, time.Minute).AuditTag("p1")
	if bytes.Equal(a1, other) {
		t.Fatal("another keyring gives the same tag")
	}
}

// The checkpoint-signing key round-trips sealed, and a sealed audit record
// does not open as one.
func TestSealNoteKey(t *testing.T) {
	k := newTestKeyring(t, newKEK(t), newMemStore(), 10, time.Minute)
	s, _, err := NewNoteKey("example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.SealNoteKey(s)
	if err != nil || bytes.Contains(sealed, []byte(s)) {
		t.Fatalf("sealed %q %v", sealed, err)
	}
	if got, err := k.OpenNoteKey(sealed); err != nil || got != s {
		t.Fatalf("opened %q %v", got, err)
	}
	rec, _ := k.SealAudit([]byte(s))
	if _, err := k.OpenNoteKey(rec); err == nil {
		t.Fatal("an audit record opened as a note key")
	}
}
