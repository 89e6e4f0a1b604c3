// Package storetest is the conformance suite every store driver runs: the
// contract of package store, checked against a real database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/store"
)

// Run runs the suite. open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"VersionsAreSequential", testVersions},
		{"ConflictingPutIsRejected", testConflict},
		{"FailedUpdateKeepsNothing", testAtomic},
		{"ConcurrentUpdatesAreIsolated", testConcurrentUpdates},
		{"DeleteLeavesMarkerAndDropsIndex", testDelete},
		{"UpdateReplacesIndex", testUpdateIndex},
		{"HistoryNewestFirstWithSnapshot", testHistory},
		{"SearchConditions", testSearchConditions},
		{"SearchSortAndPaging", testSortPaging},
		{"ChainAndHas", testChainHas},
		{"IncludeAndRevInclude", testIncludes},
		{"CompositeMatchesOneValue", testComposite},
		{"ReadMany", testReadMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func put(t *testing.T, s store.Store, w *store.Write) {
	t.Helper()
	if w.Updated.IsZero() {
		w.Updated = t0
	}
	if w.Method == 0 {
		w.Method = store.MethodCreate
		if w.Version > 1 {
			w.Method = store.MethodUpdate
		}
	}
	if w.Body == nil && !w.Deleted {
		w.Body = fmt.Appendf(nil, `{"resourceType":%q,"id":%q}`, w.Type, w.ID)
	}
	encodeIndex(w.Index)
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.Put(w) }); err != nil {
		t.Fatalf("put %s/%s v%d: %v", w.Type, w.ID, w.Version, err)
	}
}

func ids(rs []*store.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Type + "/" + r.ID
	}
	return out
}

func sorted(xs []string) []string { xs = slices.Clone(xs); slices.Sort(xs); return xs }

func mustSearch(t *testing.T, s store.Store, q *store.Query) *store.SearchResult {
	t.Helper()
	if q.Count == 0 {
		q.Count = 100
	}
	encodeQuery(q)
	res, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	return res
}

func expectIDs(t *testing.T, what string, got []*store.Resource, want ...string) {
	t.Helper()
	if g := sorted(ids(got)); !slices.Equal(g, sorted(want)) {
		t.Errorf("%s: got %v, want %v", what, g, sorted(want))
	}
}

func testVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, &store.Write{Type: "Patient", ID: "a", Version: 1, Body: []byte(`{"v":1}`)})
	put(t, s, &store.Write{Type: "Patient", ID: "a", Version: 2, Updated: t0.Add(time.Second), Body: []byte(`{"v":2}`)})
	r, err := s.Read(ctx, "Patient", "a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 || string(r.Body) != `{"v":2}` || !r.Updated.Equal(t0.Add(time.Second)) || r.Method != store.MethodUpdate {
		t.Fatalf("read: %+v", r)
	}
	v1, err := s.ReadVersion(ctx, "Patient", "a", 1)
	if err != nil || string(v1.Body) != `{"v":1}` {
		t.Fatalf("vread 1: %v %v", v1, err)
	}
	if _, err := s.ReadVersion(ctx, "Patient", "a", 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("vread 3: %v, want ErrNotFound", err)
	}
	if _, err := s.Read(ctx, "Patient", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read missing: %v", err)
	}
	if _, err := s.Read(ctx, "Observation", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read other type: %v", err)
	}
}

func testConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, &store.Write{Type: "Patient", ID: "a", Version: 1})
	for _, v := range []int64{1, 3, 0} {
		err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(&store.Write{Type: "Patient", ID: "a", Version: v, Updated: t0, Method: store.MethodUpdate, Body: []byte(`{}`)})
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("put version %d over version 1: %v, want ErrConflict", v, err)
		}
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(&store.Write{Type: "Patient", ID: "new", Version: 2, Updated: t0, Body: []byte(`{}`)})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("put version 2 of a new resource: %v, want ErrConflict", err)
	}
}

func testAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		idx := &store.Index{Tokens: []store.TokenRow{{Param: "p-atomic", Code: "c"}}}
		encodeIndex(idx)
		if err := tx.Put(&store.Write{Type: "Patient", ID: "x", Version: 1, Updated: t0, Method: store.MethodCreate, Body: []byte(`{}`),
			Index: idx}); err != nil {
			return err
		}
		if _, err := tx.Read("Patient", "x"); err != nil {
			return fmt.Errorf("own write not visible: %w", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	if _, err := s.Read(ctx, "Patient", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("write of a failed Update is visible: %v", err)
	}
	// The parameter key registered by the failed call must still work later.
	put(t, s, &store.Write{Type: "Patient", ID: "y", Version: 1, Index: &store.Index{Tokens: []store.TokenRow{{Param: "p-atomic", Code: "c"}}}})
	res := mustSearch(t, s, &store.Query{Type: "Patient", Where: []store.Clause{{store.TokenCond{Param: "p-atomic", Code: "c"}}}})
	expectIDs(t, "search after failed update", res.Matches, "Patient/y")
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, &store.Write{Type: "Patient", ID: "c", Version: 1})
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				cur, err := tx.Read("Patient", "c")
				if err != nil {
					return err
				}
				if i%5 == 0 {
					return errors.New("deliberate failure")
				}
				return tx.Put(&store.Write{Type: "Patient", ID: "c", Version: cur.Version + 1, Updated: t0, Method: store.MethodUpdate, Body: []byte(`{}`)})
			})
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if i%5 == 0 {
			if err == nil {
				t.Errorf("call %d should have failed", i)
			}
			continue
		}
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		} else {
			ok++
		}
	}
	r, err := s.Read(ctx, "Patient", "c")
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != int64(1+ok) {
		t.Fatalf("version %d after %d successful updates, want %d", r.Version, ok, 1+ok)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	idx := &store.Index{Strings: []store.StringRow{{Param: "p-name", Norm: "smith", Exact: "Smith"}}}
	put(t, s, &store.Write{Type: "Patient", ID: "d", Version: 1, Index: idx})
	put(t, s, &store.Write{Type: "Patient", ID: "d", Version: 2, Deleted: true, Method: store.MethodDelete})
	r, err := s.Read(ctx, "Patient", "d")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Deleted || r.Body != nil || r.Version != 2 {
		t.Fatalf("read after delete: %+v", r)
	}
	res := mustSearch(t, s, &store.Query{Type: "Patient", Where: []store.Clause{{store.StringCond{Param: "p-name", Value: "smi"}}}})
	expectIDs(t, "search after delete", res.Matches)
	res = mustSearch(t, s, &store.Query{Type: "Patient"})
	expectIDs(t, "all after delete", res.Matches)
	// A deleted resource can be created again as a new version.
	put(t, s, &store.Write{Type: "Patient", ID: "d", Version: 3, Index: idx})
	res = mustSearch(t, s, &store.Query{Type: "Patient", Where: []store.Clause{{store.StringCond{Param: "p-name", Value: "smi"}}}})
	expectIDs(t, "search after re-create", res.Matches, "Patient/d")
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, &store.Write{Type: "Patient", ID: "h", Version: 1, Updated: t0})
	put(t, s, &store.Write{Type: "Observation", ID: "o", Version: 1, Updated: t0.Add(time.Minute)})
	put(t, s, &store.Write{Type: "Patient", ID: "h", Version: 2, Updated: t0.Add(2 * time.Minute)})
	put(t, s, &store.Write{Type: "Patient", ID: "h", Version: 3, Updated: t0.Add(3 * time.Minute), Deleted: true, Method: store.MethodDelete})

	p, err := s.History(ctx, &store.HistoryQuery{Type: "Patient", ID: "h", Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 3 || len(p.Versions) != 3 || p.Versions[0].Version != 3 || !p.Versions[0].Deleted || p.Versions[2].Version != 1 {
		t.Fatalf("instance history: %+v", p)
	}
	p, _ = s.History(ctx, &store.HistoryQuery{Count: 10})
	if p.Total != 4 {
		t.Fatalf("system history total %d, want 4", p.Total)
	}
	p, _ = s.History(ctx, &store.HistoryQuery{Type: "Patient", Since: t0.Add(90 * time.Second), Count: 10})
	if p.Total != 2 {
		t.Fatalf("history _since: total %d, want 2", p.Total)
	}
	p, _ = s.History(ctx, &store.HistoryQuery{Type: "Patient", ID: "h", At: t0.Add(150 * time.Second), Count: 10})
	if len(p.Versions) != 1 || p.Versions[0].Version != 2 {
		t.Fatalf("history _at: %+v", p.Versions)
	}
	// Paging with a snapshot does not see later versions.
	first, _ := s.History(ctx, &store.HistoryQuery{Count: 2})
	put(t, s, &store.Write{Type: "Observation", ID: "o", Version: 2, Updated: t0.Add(time.Hour)})
	second, _ := s.History(ctx, &store.HistoryQuery{Count: 2, Offset: 2, Before: first.Snapshot})
	if second.Total != 4 || len(second.Versions) != 2 {
		t.Fatalf("second page with snapshot: total %d, %d versions", second.Total, len(second.Versions))
	}
}

func testSearchConditions(t *testing.T, s store.Store) {
	str := func(s string) *string { return &s }
	day := func(y, m, d int) (int64, int64) {
		lo := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		return lo.UnixMicro(), lo.AddDate(0, 0, 1).UnixMicro() - 1
	}
	lo1, hi1 := day(2020, 1, 10)
	lo2, hi2 := day(2021, 6, 1)
	put(t, s, &store.Write{Type: "Observation", ID: "1", Version: 1, Index: &store.Index{
		Strings:    []store.StringRow{{Param: "s", Norm: "hello world", Exact: "Hello World"}},
		Tokens:     []store.TokenRow{{Param: "code", System: "http://loinc.org", Code: "1234-5"}, {Param: "status", Code: "final"}},
		References: []store.ReferenceRow{{Param: "subject", Type: "Patient", ID: "p1"}, {Param: "all", Type: "Group", ID: "g"}},
		Dates:      []store.DateRow{{Param: "date", Lo: lo1, Hi: hi1}},
		Numbers:    []store.NumberRow{{Param: "n", Lo: 5, Hi: 5}},
		Quantities: []store.QuantityRow{{Param: "q", System: "http://unitsofmeasure.org", Code: "mg", Unit: "mg", Lo: 10, Hi: 10}},
		URIs:       []store.URIRow{{Param: "u", URI: "http://example.org/fhir/ValueSet/a"}},
	}})
	put(t, s, &store.Write{Type: "Observation", ID: "2", Version: 1, Index: &store.Index{
		Strings:    []store.StringRow{{Param: "s", Norm: "help", Exact: "help"}},
		Tokens:     []store.TokenRow{{Param: "code", System: "http://snomed.info/sct", Code: "1234-5"}, {Param: "status", Code: "preliminary"}},
		References: []store.ReferenceRow{{Param: "subject", Type: "Group", ID: "p1"}, {Param: "subject", URL: "http://other.org/Patient/9"}, {Param: "all", Type: "Group", ID: "g"}},
		Dates:      []store.DateRow{{Param: "date", Lo: lo2, Hi: hi2}},
		Numbers:    []store.NumberRow{{Param: "n", Lo: 100, Hi: 100}},
		Quantities: []store.QuantityRow{{Param: "q", Code: "", Unit: "mg", Lo: 20, Hi: 20}},
		URIs:       []store.URIRow{{Param: "u", URI: "http://example.org/fhir"}},
	}})
	put(t, s, &store.Write{Type: "Observation", ID: "3", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "all", Type: "Group", ID: "g"}}}})
	put(t, s, &store.Write{Type: "Patient", ID: "1", Version: 1, Index: &store.Index{Tokens: []store.TokenRow{{Param: "status", Code: "final"}}}})
	// Every Observation is in Group g: a first condition that selects them
	// all makes the condition under test the second, checked on each
	// candidate rather than on the index.
	all := store.Clause{store.RefCond{Param: "all", Type: "Group", ID: "g"}}

	year := func(y int) (int64, int64) {
		lo := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return lo.UnixMicro(), lo.AddDate(1, 0, 0).UnixMicro() - 1
	}
	y20lo, y20hi := year(2020)
	cases := []struct {
		name string
		c    store.Cond
		want []string
	}{
		{"string prefix", store.StringCond{Param: "s", Value: "hel"}, []string{"1", "2"}},
		{"string prefix longer", store.StringCond{Param: "s", Value: "hello"}, []string{"1"}},
		{"string exact", store.StringCond{Param: "s", Match: store.StringExact, Value: "Hello World"}, []string{"1"}},
		{"string exact case", store.StringCond{Param: "s", Match: store.StringExact, Value: "hello world"}, nil},
		{"string contains", store.StringCond{Param: "s", Match: store.StringContains, Value: "wor"}, []string{"1"}},
		{"token code", store.TokenCond{Param: "code", Code: "1234-5"}, []string{"1", "2"}},
		{"token system|code", store.TokenCond{Param: "code", System: str("http://loinc.org"), Code: "1234-5"}, []string{"1"}},
		{"token no system", store.TokenCond{Param: "status", System: str(""), Code: "final"}, []string{"1"}},
		{"token system only", store.TokenCond{Param: "code", System: str("http://snomed.info/sct")}, []string{"2"}},
		{"ref typed", store.RefCond{Param: "subject", Type: "Patient", ID: "p1"}, []string{"1"}},
		{"ref any type", store.RefCond{Param: "subject", ID: "p1"}, []string{"1", "2"}},
		{"ref url", store.RefCond{Param: "subject", URL: "http://other.org/Patient/9"}, []string{"2"}},
		{"date eq year", store.DateCond{Param: "date", Prefix: store.Eq, Lo: y20lo, Hi: y20hi}, []string{"1"}},
		{"date ne year", store.DateCond{Param: "date", Prefix: store.Ne, Lo: y20lo, Hi: y20hi}, []string{"2"}},
		{"date gt year", store.DateCond{Param: "date", Prefix: store.Gt, Lo: y20lo, Hi: y20hi}, []string{"2"}},
		{"date lt day", store.DateCond{Param: "date", Prefix: store.Lt, Lo: lo2, Hi: hi2}, []string{"1"}},
		{"date ge day", store.DateCond{Param: "date", Prefix: store.Ge, Lo: lo2, Hi: hi2}, []string{"2"}},
		{"date le day", store.DateCond{Param: "date", Prefix: store.Le, Lo: lo1, Hi: hi1}, []string{"1"}},
		{"date sa", store.DateCond{Param: "date", Prefix: store.Sa, Lo: lo1, Hi: hi1}, []string{"2"}},
		{"date eb", store.DateCond{Param: "date", Prefix: store.Eb, Lo: lo2, Hi: hi2}, []string{"1"}},
		{"number eq", store.NumberCond{Param: "n", Prefix: store.Eq, Value: 100, Lo: 99.5, Hi: 100.5}, []string{"2"}},
		{"number gt", store.NumberCond{Param: "n", Prefix: store.Gt, Value: 5}, []string{"2"}},
		{"number ge", store.NumberCond{Param: "n", Prefix: store.Ge, Value: 5}, []string{"1", "2"}},
		{"number lt", store.NumberCond{Param: "n", Prefix: store.Lt, Value: 100}, []string{"1"}},
		{"number ap", store.NumberCond{Param: "n", Prefix: store.Ap, Value: 5, Lo: 4.5, Hi: 5.5}, []string{"1"}},
		{"quantity with system", store.QuantityCond{NumberCond: store.NumberCond{Param: "q", Prefix: store.Gt, Value: 5}, System: "http://unitsofmeasure.org", Code: "mg"}, []string{"1"}},
		{"quantity unit only", store.QuantityCond{NumberCond: store.NumberCond{Param: "q", Prefix: store.Gt, Value: 5}, Code: "mg"}, []string{"1", "2"}},
		{"uri equal", store.URICond{Param: "u", Value: "http://example.org/fhir"}, []string{"2"}},
		{"uri below", store.URICond{Param: "u", Match: store.URIBelow, Value: "http://example.org/fhir"}, []string{"1", "2"}},
		{"uri above", store.URICond{Param: "u", Match: store.URIAbove, Value: "http://example.org/fhir/ValueSet/a/x"}, []string{"1", "2"}},
		{"missing true", store.MissingCond{Param: "code", Kind: store.KindToken, Missing: true}, []string{"3"}},
		{"missing false", store.MissingCond{Param: "code", Kind: store.KindToken}, []string{"1", "2"}},
		{"not", store.NotCond{Cond: store.TokenCond{Param: "status", Code: "final"}}, []string{"2", "3"}},
		{"id", store.IDCond{IDs: []string{"1", "3", "zz"}}, []string{"1", "3"}},
		{"unknown param matches nothing", store.TokenCond{Param: "never-registered", Code: "x"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{c.c}}, Total: true})
			var want []string
			for _, id := range c.want {
				want = append(want, "Observation/"+id)
			}
			expectIDs(t, c.name, res.Matches, want...)
			if res.Total != len(c.want) {
				t.Errorf("total %d, want %d", res.Total, len(c.want))
			}
			res = mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{all, {c.c}}, Total: true})
			expectIDs(t, c.name+" (checked on candidates)", res.Matches, want...)
			if res.Total != len(c.want) {
				t.Errorf("total on candidates %d, want %d", res.Total, len(c.want))
			}
		})
	}
	// OR within a clause, AND across clauses.
	res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{
		{store.TokenCond{Param: "status", Code: "final"}, store.TokenCond{Param: "status", Code: "preliminary"}},
		{store.NumberCond{Param: "n", Prefix: store.Gt, Value: 50}},
	}})
	expectIDs(t, "or+and", res.Matches, "Observation/2")
}

func testSortPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	names := []string{"delta", "alpha", "charlie", "bravo", "echo"}
	for i, n := range names {
		put(t, s, &store.Write{Type: "Patient", ID: fmt.Sprint(i), Version: 1, Updated: t0.Add(time.Duration(i) * time.Minute),
			Index: &store.Index{Strings: []store.StringRow{{Param: "name", Norm: n, Exact: n}}, Numbers: []store.NumberRow{{Param: "rank", Lo: float64(i % 2), Hi: float64(i % 2)}}}})
	}
	res := mustSearch(t, s, &store.Query{Type: "Patient", Sort: []store.Sort{{Param: "name", Kind: store.KindString}}, Count: 2, Total: true})
	if got := ids(res.Matches); !slices.Equal(got, []string{"Patient/1", "Patient/3"}) || !res.More || res.Total != 5 {
		t.Fatalf("page 1: %v more=%v total=%d", got, res.More, res.Total)
	}
	// A resource created between pages does not shift the next pages.
	put(t, s, &store.Write{Type: "Patient", ID: "9", Version: 1, Index: &store.Index{Strings: []store.StringRow{{Param: "name", Norm: "aaron", Exact: "aaron"}}}})
	q2 := &store.Query{Type: "Patient", Sort: []store.Sort{{Param: "name", Kind: store.KindString}}, Count: 2, Offset: 2, Snapshot: res.Snapshot}
	encodeQuery(q2)
	res2, err := s.Search(ctx, q2)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res2.Matches); !slices.Equal(got, []string{"Patient/2", "Patient/0"}) {
		t.Fatalf("page 2: %v", got)
	}
	res = mustSearch(t, s, &store.Query{Type: "Patient", Sort: []store.Sort{{Param: "rank", Kind: store.KindNumber, Desc: true}, {Param: "name", Kind: store.KindString}}})
	if got := ids(res.Matches); !slices.Equal(got, []string{"Patient/1", "Patient/3", "Patient/2", "Patient/0", "Patient/4", "Patient/9"}) {
		t.Fatalf("two keys: %v", got)
	}
	res = mustSearch(t, s, &store.Query{Type: "Patient", Sort: []store.Sort{{Param: store.SortLastUpdated, Desc: true}}, Count: 1})
	if got := ids(res.Matches); !slices.Equal(got, []string{"Patient/4"}) && !slices.Equal(got, []string{"Patient/9"}) {
		t.Fatalf("_lastUpdated desc: %v", got)
	}
	res, err = s.Search(ctx, &store.Query{Type: "Patient", Count: 0, Total: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 6 || len(res.Matches) != 0 {
		t.Fatalf("count only: total %d, %d matches", res.Total, len(res.Matches))
	}
}

func testChainHas(t *testing.T, s store.Store) {
	put(t, s, &store.Write{Type: "Patient", ID: "p1", Version: 1, Index: &store.Index{Strings: []store.StringRow{{Param: "name", Norm: "peter", Exact: "Peter"}},
		References: []store.ReferenceRow{{Param: "org", Type: "Organization", ID: "o1"}}}})
	put(t, s, &store.Write{Type: "Patient", ID: "p2", Version: 1, Index: &store.Index{Strings: []store.StringRow{{Param: "name", Norm: "paul", Exact: "Paul"}}}})
	put(t, s, &store.Write{Type: "Organization", ID: "o1", Version: 1, Index: &store.Index{Strings: []store.StringRow{{Param: "oname", Norm: "acme", Exact: "ACME"}}}})
	put(t, s, &store.Write{Type: "Observation", ID: "a", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "subject", Type: "Patient", ID: "p1"}},
		Tokens: []store.TokenRow{{Param: "code", Code: "x"}}}})
	put(t, s, &store.Write{Type: "Observation", ID: "b", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "subject", Type: "Patient", ID: "p2"}},
		Tokens: []store.TokenRow{{Param: "code", Code: "y"}}}})

	res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.ChainCond{Param: "subject", Types: []string{"Patient"},
		Where: []store.Clause{{store.StringCond{Param: "name", Value: "pe"}}}}}}})
	expectIDs(t, "chain", res.Matches, "Observation/a")
	res = mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.ChainCond{Param: "subject", Types: []string{"Patient"},
		Where: []store.Clause{{store.ChainCond{Param: "org", Types: []string{"Organization"}, Where: []store.Clause{{store.StringCond{Param: "oname", Value: "ac"}}}}}}}}}})
	expectIDs(t, "two-level chain", res.Matches, "Observation/a")
	res = mustSearch(t, s, &store.Query{Type: "Patient", Where: []store.Clause{{store.HasCond{Type: "Observation", Param: "subject",
		Where: []store.Clause{{store.TokenCond{Param: "code", Code: "y"}}}}}}})
	expectIDs(t, "_has", res.Matches, "Patient/p2")
	res = mustSearch(t, s, &store.Query{Type: "Organization", Where: []store.Clause{{store.HasCond{Type: "Patient", Param: "org",
		Where: []store.Clause{{store.HasCond{Type: "Observation", Param: "subject", Where: []store.Clause{{store.TokenCond{Param: "code", Code: "x"}}}}}}}}}})
	expectIDs(t, "nested _has", res.Matches, "Organization/o1")
}

func testIncludes(t *testing.T, s store.Store) {
	put(t, s, &store.Write{Type: "Organization", ID: "o1", Version: 1})
	put(t, s, &store.Write{Type: "Practitioner", ID: "dr", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "pr-org", Type: "Organization", ID: "o1"}}}})
	put(t, s, &store.Write{Type: "Patient", ID: "p1", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "gp", Type: "Practitioner", ID: "dr"}}}})
	put(t, s, &store.Write{Type: "Observation", ID: "a", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "subject", Type: "Patient", ID: "p1"}}}})
	put(t, s, &store.Write{Type: "Observation", ID: "b", Version: 1, Index: &store.Index{References: []store.ReferenceRow{{Param: "subject", Type: "Patient", ID: "p1"}}}})

	res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.IDCond{IDs: []string{"a"}}}},
		Include: []store.Include{{SourceType: "Observation", Param: "subject"}}})
	expectIDs(t, "include", res.Included, "Patient/p1")
	res = mustSearch(t, s, &store.Query{Type: "Patient", RevInclude: []store.Include{{SourceType: "Observation", Param: "subject"}}})
	expectIDs(t, "revinclude", res.Included, "Observation/a", "Observation/b")
	res = mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.IDCond{IDs: []string{"a"}}}},
		Include: []store.Include{{SourceType: "Observation", Param: "subject"}, {SourceType: "Patient", Param: "gp", Iterate: true}, {SourceType: "Practitioner", Param: "pr-org", Iterate: true}}})
	expectIDs(t, "include:iterate", res.Included, "Patient/p1", "Practitioner/dr", "Organization/o1")
	res = mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.IDCond{IDs: []string{"a"}}}},
		Include: []store.Include{{SourceType: "Observation", Param: "subject"}, {SourceType: "Patient", Param: "gp"}}})
	expectIDs(t, "include without iterate stops", res.Included, "Patient/p1")
}

func testComposite(t *testing.T, s store.Store) {
	// Observation 1 has code A with value 5 and code B with value 50; a
	// composite search for A with value > 10 must not match it.
	put(t, s, &store.Write{Type: "Observation", ID: "1", Version: 1, Index: &store.Index{
		Tokens:     []store.TokenRow{{Param: "cv#0", Group: 1, Code: "A"}, {Param: "cv#0", Group: 2, Code: "B"}},
		Quantities: []store.QuantityRow{{Param: "cv#1", Group: 1, Lo: 5, Hi: 5}, {Param: "cv#1", Group: 2, Lo: 50, Hi: 50}},
	}})
	put(t, s, &store.Write{Type: "Observation", ID: "2", Version: 1, Index: &store.Index{
		Tokens:     []store.TokenRow{{Param: "cv#0", Group: 1, Code: "A"}},
		Quantities: []store.QuantityRow{{Param: "cv#1", Group: 1, Lo: 20, Hi: 20}},
	}})
	res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.CompositeCond{Parts: []store.Cond{
		store.TokenCond{Param: "cv#0", Code: "A"},
		store.QuantityCond{NumberCond: store.NumberCond{Param: "cv#1", Prefix: store.Gt, Value: 10}},
	}}}}})
	expectIDs(t, "composite", res.Matches, "Observation/2")
	res = mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{
		{store.TokenCond{Param: "cv#0", Code: "A"}},
		{store.CompositeCond{Parts: []store.Cond{
			store.TokenCond{Param: "cv#0", Code: "A"},
			store.QuantityCond{NumberCond: store.NumberCond{Param: "cv#1", Prefix: store.Gt, Value: 10}},
		}}}}})
	expectIDs(t, "composite checked on candidates", res.Matches, "Observation/2")
}

func testReadMany(t *testing.T, s store.Store) {
	put(t, s, &store.Write{Type: "Patient", ID: "a", Version: 1})
	put(t, s, &store.Write{Type: "Patient", ID: "b", Version: 1})
	put(t, s, &store.Write{Type: "Patient", ID: "b", Version: 2, Deleted: true, Method: store.MethodDelete})
	rs, err := s.ReadMany(context.Background(), []store.Ref{{Type: "Patient", ID: "a"}, {Type: "Patient", ID: "b"}, {Type: "Patient", ID: "zz"}})
	if err != nil {
		t.Fatal(err)
	}
	expectIDs(t, "read many", rs, "Patient/a")
}

func testUpdateIndex(t *testing.T, s store.Store) {
	all := func(code, name string, lo float64) *store.Index {
		return &store.Index{
			Strings:    []store.StringRow{{Param: "n", Norm: name, Exact: name}, {Param: "n", Norm: name, Exact: name}},
			Tokens:     []store.TokenRow{{Param: "c", System: "s", Code: code}},
			References: []store.ReferenceRow{{Param: "r", Type: "Patient", ID: code}, {Param: "r", URL: "urn:uuid:" + code}},
			Dates:      []store.DateRow{{Param: "d", Lo: int64(lo), Hi: int64(lo) + 10}},
			Numbers:    []store.NumberRow{{Param: "x", Lo: lo + 0.1, Hi: lo + 0.1}},
			Quantities: []store.QuantityRow{{Param: "q", System: "u", Code: code, Unit: code, Lo: -lo, Hi: lo}},
			URIs:       []store.URIRow{{Param: "u", URI: "http://" + code}},
		}
	}
	put(t, s, &store.Write{Type: "Observation", ID: "u", Version: 1, Index: all("old", "alpha", 5)})
	put(t, s, &store.Write{Type: "Observation", ID: "u", Version: 2, Index: all("new", "beta", 50)})
	conds := func(code, name string, lo float64) []store.Cond {
		return []store.Cond{
			store.StringCond{Param: "n", Value: name},
			store.TokenCond{Param: "c", Code: code},
			store.RefCond{Param: "r", Type: "Patient", ID: code},
			store.RefCond{Param: "r", URL: "urn:uuid:" + code},
			store.DateCond{Param: "d", Prefix: store.Eq, Lo: int64(lo), Hi: int64(lo) + 10},
			store.NumberCond{Param: "x", Prefix: store.Eq, Value: lo + 0.1, Lo: lo, Hi: lo + 0.2},
			store.QuantityCond{NumberCond: store.NumberCond{Param: "q", Prefix: store.Ge, Value: lo}, System: "u", Code: code},
			store.URICond{Param: "u", Value: "http://" + code},
		}
	}
	for i, c := range conds("old", "alpha", 5) {
		res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{c}}})
		expectIDs(t, fmt.Sprintf("old value %d after update", i), res.Matches)
	}
	for i, c := range conds("new", "beta", 50) {
		res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{c}}})
		expectIDs(t, fmt.Sprintf("new value %d after update", i), res.Matches, "Observation/u")
	}
	// Updating within one call, after a create in the same call, also works.
	w1, w2 := all("w1", "gamma", 1), all("w2", "delta", 2)
	encodeIndex(w1)
	encodeIndex(w2)
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Put(&store.Write{Type: "Observation", ID: "w", Version: 1, Updated: t0, Method: store.MethodCreate, Body: []byte(`{}`), Index: w1}); err != nil {
			return err
		}
		return tx.Put(&store.Write{Type: "Observation", ID: "w", Version: 2, Updated: t0, Method: store.MethodUpdate, Body: []byte(`{}`), Index: w2})
	})
	if err != nil {
		t.Fatal(err)
	}
	res := mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.TokenCond{Param: "c", Code: "w1"}}}})
	expectIDs(t, "first version's rows in one call", res.Matches)
	res = mustSearch(t, s, &store.Query{Type: "Observation", Where: []store.Clause{{store.StringCond{Param: "n", Value: "delta"}}}})
	expectIDs(t, "second version's rows in one call", res.Matches, "Observation/w")
}
