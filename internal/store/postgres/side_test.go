package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/pgtest"
	"github.com/hestiahealth/hestia/internal/store"
)

// The side stores: keys, meta, accounts, the authorization server's
// records and audit checkpoints, with the SQLite driver's behaviour.

// audited returns the audit records committed so far, queued or already
// moved into the log by the sequencer (one statement: one snapshot, so a
// record moving between the tables is counted once).
func audited(t *testing.T, db *DB) [][]byte {
	t.Helper()
	rows, err := db.pool.QueryContext(context.Background(),
		`SELECT record FROM audit_queue UNION ALL SELECT record FROM audit_record`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var r []byte
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantAudited fails unless exactly the records want were committed to
// the audit log, in any order.
func wantAudited(t *testing.T, db *DB, want ...string) {
	t.Helper()
	var got []string
	for _, r := range audited(t, db) {
		got = append(got, string(r))
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("audit records %q, want %q", got, want)
	}
}

func TestSideKeys(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()

	if _, err := db.LoadKey(ctx, "dek:p1"); !errors.Is(err, crypt.ErrNoKey) {
		t.Fatalf("LoadKey of a missing key: %v, want ErrNoKey", err)
	}

	// The first CreateKey stores; a second returns what the first stored.
	got, err := db.CreateKey(ctx, "dek:p1", []byte("w1"))
	if err != nil || string(got) != "w1" {
		t.Fatalf("CreateKey: %q, %v", got, err)
	}
	got, err = db.CreateKey(ctx, "dek:p1", []byte("w2"))
	if err != nil || string(got) != "w1" {
		t.Fatalf("second CreateKey: %q, %v; want the stored w1", got, err)
	}
	if got, err := db.LoadKey(ctx, "dek:p1"); err != nil || string(got) != "w1" {
		t.Fatalf("LoadKey: %q, %v", got, err)
	}

	// ReplaceKey is a compare and swap on the stored bytes.
	if err := db.ReplaceKey(ctx, "dek:p1", []byte("w2"), []byte("w3")); !errors.Is(err, crypt.ErrKeyChanged) {
		t.Fatalf("ReplaceKey with a stale old: %v, want ErrKeyChanged", err)
	}
	if err := db.ReplaceKey(ctx, "dek:nobody", []byte("w1"), []byte("w3")); !errors.Is(err, crypt.ErrNoKey) {
		t.Fatalf("ReplaceKey of a missing key: %v, want ErrNoKey", err)
	}
	if err := db.ReplaceKey(ctx, "dek:p1", []byte("w1"), []byte("w2")); err != nil {
		t.Fatalf("ReplaceKey: %v", err)
	}
	if got, err := db.LoadKey(ctx, "dek:p1"); err != nil || string(got) != "w2" {
		t.Fatalf("LoadKey after ReplaceKey: %q, %v", got, err)
	}

	// ListKeys: a literal prefix (no LIKE wildcards), names in byte order.
	for _, n := range []string{"dek:a", "dek:Z", "dek:B", "dekX", "de%x", "index"} {
		if _, err := db.CreateKey(ctx, n, []byte("k-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) []string {
		t.Helper()
		var names []string
		err := db.ListKeys(ctx, prefix, func(name string, wrapped []byte, created, updated time.Time) error {
			if name == "dek:p1" {
				if string(wrapped) != "w2" {
					t.Errorf("ListKeys: %s holds %q", name, wrapped)
				}
			} else if string(wrapped) != "k-"+name {
				t.Errorf("ListKeys: %s holds %q", name, wrapped)
			}
			if created.Location() != time.UTC || time.Since(created) > time.Minute || updated.Before(created) {
				t.Errorf("ListKeys: %s created %v, updated %v", name, created, updated)
			}
			if name == "dek:p1" && !updated.After(created) {
				t.Errorf("ListKeys: replaced %s has updated %v, created %v", name, updated, created)
			}
			names = append(names, name)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got, want := list("dek:"), []string{"dek:B", "dek:Z", "dek:a", "dek:p1"}; !slices.Equal(got, want) {
		t.Fatalf("ListKeys(dek:) = %q, want %q", got, want)
	}
	if got, want := list("de%"), []string{"de%x"}; !slices.Equal(got, want) {
		t.Fatalf("ListKeys(de%%) = %q, want %q", got, want)
	}
	if got := list(""); len(got) != 7 {
		t.Fatalf("ListKeys(\"\") = %q, want all 7", got)
	}

	// fn's error ends the listing and is returned as is.
	stop := errors.New("stop")
	calls := 0
	if err := db.ListKeys(ctx, "dek:", func(string, []byte, time.Time, time.Time) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("ListKeys with a failing fn: %v after %d calls", err, calls)
	}

	if err := db.Purge(ctx); err != nil {
		t.Fatalf("Purge: %v", err)
	}
}

// TestSideKeysListUsesStore checks that ListKeys's fn may use the store:
// the rows are read, and their connection released, before fn runs.
func TestSideKeysListUsesStore(t *testing.T) {
	// One connection for the audit sequencer's lease, one for the rest.
	db, err := Open(context.Background(), Config{URL: pgtest.DSN(t), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := db.CreateKey(ctx, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	err = db.ListKeys(ctx, "", func(name string, _ []byte, _, _ time.Time) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		w, err := db.LoadKey(ctx, name)
		if err != nil || string(w) != name {
			return fmt.Errorf("LoadKey(%s) inside ListKeys: %q, %v", name, w, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSideKeysConcurrentCreate checks that nodes creating one key at once
// all end up with the same one.
func TestSideKeysConcurrentCreate(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	const n = 8
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = db.CreateKey(ctx, "dek:race", fmt.Appendf(nil, "w%d", i)) })
	}
	wg.Wait()
	stored, err := db.LoadKey(ctx, "dek:race")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil || !bytes.Equal(got[i], stored) {
			t.Fatalf("CreateKey %d: %q, %v; stored %q", i, got[i], errs[i], stored)
		}
	}
}

func TestSideMeta(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if v, ok, err := db.Meta(ctx, "string_prefix_len"); err != nil || ok || v != "" {
		t.Fatalf("Meta of a missing key: %q, %v, %v", v, ok, err)
	}
	for _, v := range []string{"4", "8"} {
		if err := db.SetMeta(ctx, "string_prefix_len", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := db.Meta(ctx, "string_prefix_len"); err != nil || !ok || got != v {
			t.Fatalf("Meta after SetMeta(%q): %q, %v, %v", v, got, ok, err)
		}
	}
}

func TestSideUsers(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if n, err := db.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers: %d, %v", n, err)
	}
	if us, err := db.Users(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Users: %v, %v", us, err)
	}

	alice := store.UserRecord{ID: "u1", Username: "alice", Data: []byte("sealed-a")}
	if err := db.AddUser(ctx, alice, []byte("add-a1"), []byte("add-a2")); err != nil {
		t.Fatal(err)
	}
	wantAudited(t, db, "add-a1", "add-a2")

	// Ids and usernames are unique; a refused add appends no record.
	if err := db.AddUser(ctx, store.UserRecord{ID: "u1", Username: "other", Data: []byte("x")}, []byte("dup-id")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddUser of a taken id: %v, want ErrConflict", err)
	}
	if err := db.AddUser(ctx, store.UserRecord{ID: "u9", Username: "alice", Data: []byte("x")}, []byte("dup-name")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddUser of a taken username: %v, want ErrConflict", err)
	}
	wantAudited(t, db, "add-a1", "add-a2")

	if err := db.AddUser(ctx, store.UserRecord{ID: "u2", Username: "Bob", Data: []byte("sealed-b")}); err != nil {
		t.Fatal(err)
	}
	u, err := db.User(ctx, "u1")
	if err != nil || u.ID != "u1" || u.Username != "alice" || u.Version != 1 || string(u.Data) != "sealed-a" {
		t.Fatalf("User: %+v, %v", u, err)
	}
	if u, err := db.UserByName(ctx, "Bob"); err != nil || u.ID != "u2" || u.Version != 1 {
		t.Fatalf("UserByName: %+v, %v", u, err)
	}
	if _, err := db.User(ctx, "u404"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("User of a missing id: %v, want ErrNotFound", err)
	}
	if _, err := db.UserByName(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByName is case-sensitive: %v, want ErrNotFound", err)
	}

	// UpdateUser is a compare and swap on the version.
	u.Data = []byte("sealed-a2")
	if err := db.UpdateUser(ctx, u, []byte("upd-a")); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateUser(ctx, u, []byte("upd-stale")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateUser with a stale version: %v, want ErrConflict", err)
	}
	if err := db.UpdateUser(ctx, store.UserRecord{ID: "u404", Version: 1, Data: []byte("x")}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateUser of a missing id: %v, want ErrConflict", err)
	}
	wantAudited(t, db, "add-a1", "add-a2", "upd-a")
	u, err = db.User(ctx, "u1")
	if err != nil || u.Version != 2 || string(u.Data) != "sealed-a2" || u.Username != "alice" {
		t.Fatalf("User after UpdateUser: %+v, %v", u, err)
	}

	// Of concurrent updates from one version, exactly one wins.
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v := u
			v.Data = fmt.Appendf(nil, "race-%d", i)
			errs[i] = db.UpdateUser(ctx, v)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("concurrent UpdateUser: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent updates of one version won, want 1", won)
	}
	if u, err := db.User(ctx, "u1"); err != nil || u.Version != 3 {
		t.Fatalf("User after the race: %+v, %v", u, err)
	}

	// Users lists by username, as bytes ("Bob" before "alice").
	us, err := db.Users(ctx)
	if err != nil || len(us) != 2 || us[0].Username != "Bob" || us[1].Username != "alice" {
		t.Fatalf("Users: %+v, %v", us, err)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 2 {
		t.Fatalf("CountUsers: %d, %v", n, err)
	}
}

func TestSideOAuthClients(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	created := time.Date(2026, 3, 1, 12, 0, 0, 500, time.FixedZone("x", 3600))
	if err := db.AddClient(ctx, store.ClientRecord{ID: "c1", Data: []byte(`{"n":1}`), Created: created}, []byte("reg-c1")); err != nil {
		t.Fatal(err)
	}
	if err := db.AddClient(ctx, store.ClientRecord{ID: "c1", Data: []byte(`{}`), Created: created}, []byte("reg-dup")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddClient of a taken id: %v, want ErrConflict", err)
	}
	if err := db.AddClient(ctx, store.ClientRecord{ID: "C0", Data: []byte(`{"n":0}`), Created: created}); err != nil {
		t.Fatal(err)
	}
	wantAudited(t, db, "reg-c1")

	c, err := db.Client(ctx, "c1")
	if err != nil || c.ID != "c1" || string(c.Data) != `{"n":1}` || !c.Created.Equal(created.Truncate(time.Second)) || c.Created.Location() != time.UTC {
		t.Fatalf("Client: %+v, %v", c, err)
	}
	if _, err := db.Client(ctx, "c404"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Client of a missing id: %v, want ErrNotFound", err)
	}
	cs, err := db.Clients(ctx)
	if err != nil || len(cs) != 2 || cs[0].ID != "C0" || cs[1].ID != "c1" || string(cs[1].Data) != `{"n":1}` {
		t.Fatalf("Clients: %+v, %v", cs, err)
	}

	// Removing a client removes what was issued to it, and only that.
	exp := time.Now().Add(time.Hour)
	for _, g := range []store.Grant{
		{Kind: "access", Key: "k1", RequestID: "r1", ClientID: "c1", Subject: "u1", Active: true, Expires: exp, Data: []byte("d")},
		{Kind: "refresh", Key: "k2", RequestID: "r1", ClientID: "c1", Subject: "u1", Active: true, Expires: exp, Data: []byte("d")},
		{Kind: "access", Key: "k3", RequestID: "r2", ClientID: "C0", Subject: "u1", Active: true, Expires: exp, Data: []byte("d")},
	} {
		if err := db.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RemoveClient(ctx, "c1", []byte("rm-c1")); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveClient(ctx, "c1", []byte("rm-again")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RemoveClient of a missing id: %v, want ErrNotFound", err)
	}
	wantAudited(t, db, "reg-c1", "rm-c1")
	if _, err := db.Client(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Client after RemoveClient: %v", err)
	}
	for _, k := range [][2]string{{"access", "k1"}, {"refresh", "k2"}} {
		if _, err := db.Grant(ctx, k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("grant %v of a removed client: %v, want ErrNotFound", k, err)
		}
	}
	if _, err := db.Grant(ctx, "access", "k3"); err != nil {
		t.Fatalf("grant of another client: %v", err)
	}
}

func TestSideOAuthGrants(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Unix(time.Now().Unix(), 0).UTC()
	g := store.Grant{Kind: "code", Key: "sig1", RequestID: "r1", ClientID: "c1", Subject: "u1", Active: true,
		Expires: now.Add(10 * time.Minute), Data: []byte("sealed")}
	if err := db.PutGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	got, err := db.Grant(ctx, "code", "sig1")
	if err != nil || !grantEqual(got, g) {
		t.Fatalf("Grant: %+v, %v; want %+v", got, err, g)
	}
	if _, err := db.Grant(ctx, "access", "sig1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Grant of another kind: %v, want ErrNotFound", err)
	}

	// PutGrant replaces a grant of the same kind and key.
	g2 := store.Grant{Kind: "code", Key: "sig1", RequestID: "r2", ClientID: "c2", Subject: "u2", Active: false,
		Expires: now.Add(time.Minute), Data: []byte("sealed2")}
	if err := db.PutGrant(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Grant(ctx, "code", "sig1"); err != nil || !grantEqual(got, g2) {
		t.Fatalf("Grant after replace: %+v, %v; want %+v", got, err, g2)
	}

	// DeactivateGrant keeps the grant, inactive.
	if err := db.PutGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := db.DeactivateGrant(ctx, "code", "sig1"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Grant(ctx, "code", "sig1"); err != nil || got.Active {
		t.Fatalf("Grant after DeactivateGrant: %+v, %v", got, err)
	}
	if err := db.DeactivateGrant(ctx, "code", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeactivateGrant of a missing grant: %v, want ErrNotFound", err)
	}
	// A code used twice, even at once on two nodes: only the first use
	// deactivates it; the others are conflicts.
	if err := db.PutGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := db.DeactivateGrant(ctx, "code", "sig1"); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("concurrent DeactivateGrant: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 5 {
		t.Fatalf("concurrent DeactivateGrant: %d wins, %d conflicts; want 1 and 5", wins.Load(), conflicts.Load())
	}

	// DeleteGrant removes it; a missing one is no error.
	if err := db.DeleteGrant(ctx, "code", "sig1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Grant(ctx, "code", "sig1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Grant after DeleteGrant: %v", err)
	}
	if err := db.DeleteGrant(ctx, "code", "sig1"); err != nil {
		t.Fatalf("DeleteGrant of a missing grant: %v", err)
	}

	// Revocation by authorization (of one kind, or all) and by subject.
	put := func(kind, key, req, subject string, expires time.Time) {
		t.Helper()
		if err := db.PutGrant(ctx, store.Grant{Kind: kind, Key: key, RequestID: req, ClientID: "c1", Subject: subject,
			Active: true, Expires: expires, Data: []byte("d")}); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(time.Hour)
	put("access", "a1", "r1", "u1", later)
	put("refresh", "f1", "r1", "u1", later)
	put("access", "a2", "r2", "u1", later)
	put("access", "a3", "r3", "u2", later)
	put("refresh", "f3", "r3", "u2", later)
	active := func() []string {
		t.Helper()
		var out []string
		for _, k := range [][2]string{{"access", "a1"}, {"refresh", "f1"}, {"access", "a2"}, {"access", "a3"}, {"refresh", "f3"}} {
			g, err := db.Grant(ctx, k[0], k[1])
			if err != nil {
				t.Fatal(err)
			}
			if g.Active {
				out = append(out, k[1])
			}
		}
		return out
	}
	if err := db.RevokeGrants(ctx, "access", "r1"); err != nil {
		t.Fatal(err)
	}
	if got, want := active(), []string{"f1", "a2", "a3", "f3"}; !slices.Equal(got, want) {
		t.Fatalf("after RevokeGrants(access, r1): active %q, want %q", got, want)
	}
	if err := db.RevokeGrants(ctx, "", "r3"); err != nil {
		t.Fatal(err)
	}
	if got, want := active(), []string{"f1", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("after RevokeGrants(\"\", r3): active %q, want %q", got, want)
	}
	if err := db.RevokeSubject(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if got := active(); len(got) != 0 {
		t.Fatalf("after RevokeSubject(u1): active %q, want none", got)
	}

	// PruneGrants deletes what expired before t, grants and assertion ids.
	put("access", "old", "r4", "u3", now.Add(-time.Second))
	put("access", "edge", "r4", "u3", now)
	if err := db.AddJTI(ctx, "jti-old", now.Add(-time.Second), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddJTI(ctx, "jti-edge", now, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.PruneGrants(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Grant(ctx, "access", "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired grant after PruneGrants: %v, want ErrNotFound", err)
	}
	for _, k := range []string{"edge", "a1", "a3"} {
		if _, err := db.Grant(ctx, "access", k); err != nil {
			t.Fatalf("unexpired grant %s after PruneGrants: %v", k, err)
		}
	}
	// Asked as of before they expired, only the pruned id is unknown.
	if known, err := db.JTIKnown(ctx, "jti-old", now.Add(-time.Minute)); err != nil || known {
		t.Fatalf("pruned assertion id: known %v, %v", known, err)
	}
	if known, err := db.JTIKnown(ctx, "jti-edge", now.Add(-time.Minute)); err != nil || !known {
		t.Fatalf("unexpired assertion id after PruneGrants: known %v, %v", known, err)
	}
}

func grantEqual(a, b store.Grant) bool {
	return a.Kind == b.Kind && a.Key == b.Key && a.RequestID == b.RequestID && a.ClientID == b.ClientID &&
		a.Subject == b.Subject && a.Active == b.Active && a.Expires.Equal(b.Expires) && a.Expires.Location() == time.UTC &&
		bytes.Equal(a.Data, b.Data)
}

func TestSideOAuthJTI(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(5 * time.Minute)
	if known, err := db.JTIKnown(ctx, "j1", now); err != nil || known {
		t.Fatalf("JTIKnown of a new id: %v, %v", known, err)
	}
	if err := db.AddJTI(ctx, "j1", exp, now); err != nil {
		t.Fatal(err)
	}
	if known, err := db.JTIKnown(ctx, "j1", now); err != nil || !known {
		t.Fatalf("JTIKnown of a recorded id: %v, %v", known, err)
	}
	// A replay is refused while the assertion has not expired.
	if err := db.AddJTI(ctx, "j1", exp, now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AddJTI of a recorded id: %v, want ErrConflict", err)
	}
	// Once it has, the id is unknown again and may be recorded anew.
	after := exp.Add(2 * time.Second)
	if known, err := db.JTIKnown(ctx, "j1", after); err != nil || known {
		t.Fatalf("JTIKnown of an expired id: %v, %v", known, err)
	}
	if err := db.AddJTI(ctx, "j1", after.Add(time.Minute), after); err != nil {
		t.Fatalf("AddJTI of an expired id: %v", err)
	}
	if known, err := db.JTIKnown(ctx, "j1", after); err != nil || !known {
		t.Fatalf("JTIKnown after re-adding: %v, %v", known, err)
	}

	// Of concurrent uses of one id, exactly one is recorded.
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = db.AddJTI(ctx, "j-race", exp, now) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("concurrent AddJTI: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent AddJTI of one id succeeded, want 1", won)
	}
}

func TestSideCheckpoints(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if n, ok, err := db.LatestCheckpoint(ctx); err != nil || ok || n != nil {
		t.Fatalf("LatestCheckpoint of none: %q, %v, %v", n, ok, err)
	}
	if cs, err := db.Checkpoints(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("Checkpoints of none: %q, %v", cs, err)
	}
	for _, c := range []struct {
		size uint64
		note string
	}{{10, "n10"}, {2, "n2"}, {300, "n300"}, {7, "n7"}, {7, "n7-second"}} {
		if err := db.SaveCheckpoint(ctx, c.size, []byte(c.note)); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := db.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, string(c))
	}
	if want := []string{"n2", "n7", "n10", "n300"}; !slices.Equal(got, want) {
		t.Fatalf("Checkpoints: %q, want %q (by size, the first of a size kept)", got, want)
	}
	if n, ok, err := db.LatestCheckpoint(ctx); err != nil || !ok || string(n) != "n300" {
		t.Fatalf("LatestCheckpoint: %q, %v, %v", n, ok, err)
	}
	if err := db.SaveCheckpoint(ctx, math.MaxUint64, []byte("x")); err == nil {
		t.Fatal("SaveCheckpoint of a size beyond int64: no error")
	}
}
