package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
)

// loadingCipher "seals" key lists by prefixing them, and loads a key from
// the database on every open, as the keyring does on a cache miss: from
// inside the SQL functions of a query.
type loadingCipher struct{ db *DB }

func (c *loadingCipher) SealKeys(owner, ref string, plain []byte) ([]byte, error) {
	return append([]byte("sealed:"+ref+":"), plain...), nil
}

func (c *loadingCipher) OpenKeys(owner, ref string, sealed []byte) ([]byte, error) {
	if _, err := c.db.LoadKey(context.Background(), "dek:"+owner); err != nil {
		return nil, err
	}
	p := "sealed:" + ref + ":"
	if !strings.HasPrefix(string(sealed), p) {
		return nil, fmt.Errorf("key list of another resource")
	}
	return sealed[len(p):], nil
}

func openWithCipher(t *testing.T, readers int) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "hestia.db"), Synchronous: "NORMAL", Readers: readers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetCipher(&loadingCipher{db: db})
	if _, err := db.CreateKey(context.Background(), "dek:p", []byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	return db
}

const nameParam = "http://hl7.org/fhir/SearchParameter/individual-family"

// put writes Patient/id with a family name and a gender, index forms given
// by enc (a stand-in for the blind-index key: "k1:" or "k2:").
func put(t *testing.T, db *DB, id, family, gender, enc string) {
	t.Helper()
	x := &store.Index{
		Strings: []store.StringRow{{Param: nameParam, Norm: strings.ToLower(family), Exact: family}},
		Tokens:  []store.TokenRow{{Param: "gender", Code: gender}},
		Dates:   []store.DateRow{{Param: "birthdate", Lo: 1, Hi: 2}},
	}
	encodeWith(enc)(x)
	err := db.Update(context.Background(), func(tx store.Tx) error {
		v := int64(1)
		if r, err := tx.Read("Patient", id); err == nil {
			v = r.Version + 1
		}
		return tx.Put(&store.Write{Type: "Patient", ID: id, Version: v, Updated: time.Now(), Body: []byte("{}"), Index: x, Owner: "p"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func encodeWith(enc string) func(*store.Index) error {
	return func(x *store.Index) error {
		for i := range x.Strings {
			r := &x.Strings[i]
			r.IxNorm, r.IxExact = enc+"p:"+r.Norm[:min(4, len(r.Norm))], enc+"e:"+r.Exact
		}
		for i := range x.Tokens {
			r := &x.Tokens[i]
			r.IxCode, r.IxSystem = enc+"c:"+r.Code, enc+"s:"+r.System
		}
		return nil
	}
}

func count(t *testing.T, db *DB, where ...store.Cond) int {
	t.Helper()
	q := &store.Query{Type: "Patient", Total: true}
	for _, c := range where {
		q.Where = append(q.Where, store.Clause{c})
	}
	res, err := db.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}

func exact(family string, encs ...string) store.Cond {
	c := store.StringCond{Param: nameParam, Match: store.StringExact, Value: family}
	for _, e := range encs {
		c.Ix = append(c.Ix, e+"e:"+family)
	}
	return c
}

func gender(code string, encs ...string) store.Cond {
	c := store.TokenCond{Param: "gender", Code: code}
	for _, e := range encs {
		c.IxCode = append(c.IxCode, e+"c:"+code)
	}
	return c
}

// Reindex replaces every resource's index forms, keeps the rows that have
// none, skips what is already done, and what it leaves is found only under
// the new forms.
func TestReindex(t *testing.T) {
	db := openWithCipher(t, 0)
	for i := range 450 { // more than two batches
		put(t, db, fmt.Sprintf("p%d", i), fmt.Sprintf("Fam%d", i%3), []string{"female", "male"}[i%2], "k1:")
	}
	put(t, db, "p0", "Fam0", "female", "k1:") // a second version: only the current rows count
	if n := count(t, db, exact("Fam0", "k1:")); n != 150 {
		t.Fatalf("before: %d", n)
	}
	var calls, last int
	n, err := db.Reindex(context.Background(), encodeWith("k2:"), func(done, total int) { calls++; last = done })
	if err != nil {
		t.Fatal(err)
	}
	if n != 450 || calls < 3 || last != 450 {
		t.Fatalf("rebuilt %d, progress called %d times, last %d", n, calls, last)
	}
	if got := count(t, db, exact("Fam0", "k1:")); got != 0 {
		t.Fatalf("%d resources still found under the old forms", got)
	}
	if got := count(t, db, exact("Fam0", "k2:"), gender("female", "k2:")); got != 75 {
		t.Fatalf("under the new forms: %d, want 75", got)
	}
	if got := count(t, db, exact("Fam1", "k1:", "k2:"), store.DateCond{Param: "birthdate", Prefix: store.Eq, Lo: 1, Hi: 2}); got != 150 {
		t.Fatalf("date rows after the rebuild: %d, want 150", got)
	}
	// Nothing is left to do; a run that resumes finds it so.
	if n, err := db.Reindex(context.Background(), encodeWith("k2:"), nil); err != nil || n != 0 {
		t.Fatalf("a second run rebuilt %d (%v)", n, err)
	}
	// Rows are not duplicated: a resource updated now leaves no stale row.
	put(t, db, "p3", "Other", "male", "k2:")
	if got := count(t, db, exact("Fam0", "k2:")); got != 149 {
		t.Fatalf("after an update: %d, want 149", got)
	}
}

// Key lists are opened from inside queries; opening one may load a key
// from the database. That must not need a second connection of the read
// pool: with one reader, it would wait for ever.
func TestKeyLoadsInsideQueriesNeedNoReadConnection(t *testing.T) {
	db := openWithCipher(t, 1)
	for i := range 20 {
		put(t, db, fmt.Sprintf("p%d", i), "Same", []string{"female", "male"}[i%2], "k1:")
	}
	done := make(chan int, 1)
	go func() {
		// The second condition is checked on each candidate's key list.
		done <- count(t, db, exact("Same", "k1:"), store.StringCond{Param: nameParam, Match: store.StringContains, Value: "am"})
	}()
	select {
	case n := <-done:
		if n != 20 {
			t.Fatalf("found %d, want 20", n)
		}
	case <-time.After(20 * time.Second):
		// Not t.Fatal: closing the database would wait for the query.
		panic("a query that loads keys did not finish: the read pool deadlocked")
	}
}
