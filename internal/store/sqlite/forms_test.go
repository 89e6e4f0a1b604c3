package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
)

// countingCipher counts the key lists opened.
type countingCipher struct {
	loadingCipher
	opens atomic.Int64
}

func (c *countingCipher) OpenKeys(owner, ref string, sealed []byte) ([]byte, error) {
	c.opens.Add(1)
	return c.loadingCipher.OpenKeys(owner, ref, sealed)
}

// Conditions that compare index forms, dates, numbers, quantities or
// references, and sort keys of those kinds, are evaluated on the unsealed
// forms list, which holds no value behind a blind-index form; conditions
// that need values open the sealed key list, and so do resources written
// without a forms list. Every way gives the same answers.
func TestFormsListAnswersWithoutOpeningKeyLists(t *testing.T) {
	db := openWithCipher(t, 0)
	c := &countingCipher{loadingCipher: loadingCipher{db: db}}
	db.SetCipher(c)
	for i := range 30 {
		put(t, db, fmt.Sprintf("p%d", i), fmt.Sprintf("Fam%d", i%3), []string{"female", "male"}[i%2], "k1:")
	}
	ctx := context.Background()

	// The forms list holds forms and ranges, no values.
	var ixf []byte
	if err := db.rpool.QueryRowContext(ctx, `SELECT ixf FROM resource WHERE id = 'p1'`).Scan(&ixf); err != nil {
		t.Fatal(err)
	}
	_, x, err := sqlstore.DecodeIndex(func() (map[int64]string, error) { return db.paramKeys(ctx) }, ixf, map[int64]string{})
	if err != nil || len(x.Strings)+len(x.Tokens)+len(x.Dates) != 3 {
		t.Fatalf("forms list: %+v, %v", x, err)
	}
	for _, r := range x.Strings {
		if r.Norm != "" || r.Exact != "" || r.IxNorm == "" {
			t.Fatalf("forms list row %+v: values present or forms missing", r)
		}
	}
	for _, r := range x.Tokens {
		if r.Code != "" || r.System != "" || r.IxCode == "" {
			t.Fatalf("forms list row %+v: values present or forms missing", r)
		}
	}
	for _, r := range x.Dates {
		if r.Lo != 1 || r.Hi != 2 {
			t.Fatalf("forms list date row %+v", r)
		}
	}

	check := func(want int, opened bool, conds ...store.Cond) {
		t.Helper()
		before := c.opens.Load()
		if got := count(t, db, conds...); got != want {
			t.Fatalf("%v: %d, want %d", conds, got, want)
		}
		if n := c.opens.Load() - before; (n > 0) != opened {
			t.Fatalf("%v: %d key lists opened, want opened=%v", conds, n, opened)
		}
	}
	birth := store.DateCond{Param: "birthdate", Prefix: store.Eq, Lo: 1, Hi: 2}
	// The first condition drives; the second is checked on each candidate.
	check(5, false, exact("Fam0", "k1:"), gender("female", "k1:"))
	check(10, false, exact("Fam1", "k1:"), birth)
	check(0, false, exact("Fam1", "k1:"), store.NotCond{Cond: birth})
	check(10, true, exact("Fam2", "k1:"), store.StringCond{Param: nameParam, Match: store.StringContains, Value: "am2"})

	// Sorting by date reads the forms list; by a string, the sealed list.
	sorted := func(s store.Sort) int64 {
		before := c.opens.Load()
		res, err := db.Search(ctx, &store.Query{Type: "Patient", Where: []store.Clause{{gender("male", "k1:")}}, Sort: []store.Sort{s}, Count: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Matches) != 15 {
			t.Fatalf("sorted by %s: %d entries, want 15", s.Param, len(res.Matches))
		}
		return c.opens.Load() - before
	}
	if n := sorted(store.Sort{Param: "birthdate", Kind: store.KindDate, Desc: true}); n != 0 {
		t.Fatalf("sorting by date opened %d key lists", n)
	}
	if n := sorted(store.Sort{Param: nameParam, Kind: store.KindString}); n == 0 {
		t.Fatal("sorting by a string did not open the key lists (it needs their values)")
	}

	// Rows written before forms lists existed have the whole list sealed
	// in ix: they are opened, and answer the same.
	type res struct {
		rid       int64
		id        string
		ix, forms []byte
	}
	var all []res
	q, err := db.rpool.QueryContext(ctx, `SELECT rid, id, ix, ixf FROM resource`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var r res
		if err := q.Scan(&r.rid, &r.id, &r.ix, &r.forms); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	q.Close()
	for _, r := range all {
		whole, err := db.core.KeyList("p", "Patient", r.id, r.ix, r.forms)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := c.SealKeys("p", "Patient/"+r.id, whole)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.wconn.ExecContext(ctx, `UPDATE resource SET ix = ?, ixf = NULL WHERE rid = ?`, sealed, r.rid); err != nil {
			t.Fatal(err)
		}
	}
	check(5, true, exact("Fam0", "k1:"), gender("female", "k1:"))
	check(10, true, exact("Fam1", "k1:"), birth)
	check(10, true, exact("Fam2", "k1:"), store.StringCond{Param: nameParam, Match: store.StringContains, Value: "am2"})
	// An update of such a resource deletes its old rows and writes both lists.
	put(t, db, "p0", "Other", "male", "k1:")
	check(9, false, exact("Fam0", "k1:"))
	check(1, true, exact("Other", "k1:"), gender("male", "k1:")) // the other males are of the older kind
	var hasForms bool
	if err := db.rpool.QueryRowContext(ctx, `SELECT ixf IS NOT NULL FROM resource WHERE id = 'p0'`).Scan(&hasForms); err != nil || !hasForms {
		t.Fatalf("the updated resource has no forms list (%v)", err)
	}
}

// MergeKeys inverts the split of a key list into forms and values.
func TestMergeKeys(t *testing.T) {
	db := openWithCipher(t, 0)
	x := &store.Index{
		Strings:    []store.StringRow{{Param: nameParam, Norm: "smith", Exact: "Smith", Group: 1}},
		Tokens:     []store.TokenRow{{Param: "gender", Code: "female", System: "http://hl7.org/fhir/administrative-gender"}},
		References: []store.ReferenceRow{{Param: "general-practitioner", Type: "Practitioner", ID: "pr1"}},
		Dates:      []store.DateRow{{Param: "birthdate", Lo: -5, Hi: 7}},
		Numbers:    []store.NumberRow{{Param: "n", Lo: 1.5, Hi: 2.5}},
		Quantities: []store.QuantityRow{{Param: "q", Lo: 3, Hi: 4, Code: "mg", System: "http://unitsofmeasure.org", Unit: "mg"}},
		URIs:       []store.URIRow{{Param: "u", URI: "http://example.org/a"}},
	}
	encodeWith("k1:")(x)
	for i := range x.URIs {
		x.URIs[i].IxURI = "k1:u:" + x.URIs[i].URI
	}
	err := db.Update(context.Background(), func(tx store.Tx) error {
		w := tx.(*writeTx)
		cipher := db.core.Cipher()
		values, forms, err := w.PrepareIndex(x)
		if err != nil {
			return err
		}
		db.core.SetCipher(nil)
		whole, _, err := w.PrepareIndex(x)
		db.core.SetCipher(cipher)
		if err != nil {
			return err
		}
		merged, err := sqlstore.MergeKeys(forms, values)
		if err != nil {
			return err
		}
		if string(merged) != string(whole) {
			t.Errorf("merged list differs from the whole list:\n%q\n%q", merged, whole)
		}
		if _, err := sqlstore.MergeKeys(forms, values[:len(values)-1]); err == nil {
			t.Error("a truncated values list merged")
		}
		if _, err := sqlstore.MergeKeys(forms, append(values, 0)); err == nil {
			t.Error("a values list with a left-over byte merged")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
