package engine

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store"
)

// EntryResult is the outcome of one batch or transaction entry.
type EntryResult struct {
	Method   string
	Write    *WriteResult // POST, PUT, DELETE
	Read     *Resource    // GET of one resource
	Search   *SearchPage  // GET search
	History  *HistoryPage // GET history
	SearchOf string       // the resource type searched
	Err      error        // batch only: this entry failed
}

// entry is a parsed Bundle.entry.
type entry struct {
	index       int
	method      string
	typ, id     string
	version     int64  // vread
	history     bool   // _history without a version
	query       string // the part after '?'
	fullURL     string
	res         map[string]any
	bodyID      string // the resource id as the client sent it
	ifNoneExist string
	ifMatch     int64
	search      *search.Search // a GET search, parsed up front
}

// Transaction processes a transaction Bundle: all entries succeed or
// none is kept. Entries are processed in the order the specification
// prescribes (DELETE, POST, PUT, then GET) and urn:uuid: and conditional
// references between them are resolved.
func (e *Engine) Transaction(ctx context.Context, bundle map[string]any) ([]*EntryResult, error) {
	return e.transactionAs(ctx, access.Transaction, bundle)
}

// Import applies a transaction Bundle for the import command: a
// transaction in every respect, authorized and audited as an import.
func (e *Engine) Import(ctx context.Context, bundle map[string]any) ([]*EntryResult, error) {
	return e.transactionAs(ctx, access.Import, bundle)
}

func (e *Engine) transactionAs(ctx context.Context, in access.Interaction, bundle map[string]any) ([]*EntryResult, error) {
	ev, err := e.begin(ctx, in, "", "")
	if err != nil {
		return nil, err
	}
	ev.Type = "Bundle"
	results, err := e.transaction(ctx, bundle, ev)
	if err == nil {
		ev.Count = len(results)
	}
	if err := e.record(ctx, ev, err); err != nil {
		return nil, err
	}
	return results, nil
}

// transaction applies a transaction Bundle; ev, its audit event, commits
// with its writes.
func (e *Engine) transaction(ctx context.Context, bundle map[string]any, ev *audit.Event) ([]*EntryResult, error) {
	entries, err := e.parseEntries(bundle, "transaction")
	if err != nil {
		return nil, err
	}
	// Every entry is authorized before anything is prepared.
	for _, en := range entries {
		in, ok := writeInteraction(en.method)
		if !ok {
			in = access.Read
			if en.id == "" {
				in = access.SearchType
			}
		}
		if err := e.authorize(ctx, in, en.typ, en.id); err != nil {
			return nil, err
		}
	}
	if err := checkDistinctTargets(entries); err != nil {
		return nil, err
	}
	conditionals := 0
	for _, en := range entries {
		if en.ifNoneExist != "" || en.query != "" && en.method != "GET" {
			conditionals++
		}
		if en.method == "GET" {
			// Reads run inside the write transaction, after the writes, so
			// that the Bundle succeeds or fails as a whole.
			if en.version > 0 || en.history {
				return nil, fault.New(fault.Invalid, "Bundle.entry[%d]: vread and history are not supported in a transaction; use a batch", en.index)
			}
			if en.id == "" {
				params, err := url.ParseQuery(en.query)
				if err != nil {
					return nil, fault.New(fault.Invalid, "Bundle.entry[%d]: request.url has an invalid query", en.index)
				}
				if en.search, err = e.reg.Parse(en.typ, params, search.Options{Encoder: e.enc, Now: e.now()}); err != nil {
					return nil, entryErr(en, err)
				}
				if len(en.search.Query.Include) > 0 || len(en.search.Query.RevInclude) > 0 || hasChain(en.search.Query.Where) {
					// Their types would each need a decision: run such
					// searches in a batch.
					return nil, fault.New(fault.Invalid, "Bundle.entry[%d]: _include, _revinclude, chains and _has are not supported in a transaction; use a batch", en.index)
				}
				_, reach, err := e.decide(ctx, access.SearchType, en.typ, "")
				if err != nil {
					return nil, err
				}
				if _, err := e.restrict(ctx, nil, &en.search.Query, en.typ, params, []*access.Reach{reach}); err != nil {
					return nil, entryErr(en, err)
				}
			}
		}
	}
	if conditionals > MaxConditionalEntries {
		return nil, fault.New(fault.TooLarge, "a transaction may hold at most %d conditional entries", MaxConditionalEntries)
	}
	// Ids of created resources are fixed once, so that retries rewrite
	// references the same way.
	fresh := make(map[int]string)
	for _, en := range entries {
		if en.method == "POST" || en.method == "PUT" && en.query != "" {
			fresh[en.index] = newID()
		}
	}
	// A retry starts from the references as the client sent them: the
	// rewrites of the failed attempt are undone.
	var undo []refUndo
	results := make([]*EntryResult, len(entries))
	ops, err := e.commit(ctx, func() ([]*op, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i].m["reference"] = undo[i].ref
		}
		undo = undo[:0]
		return e.prepareTransaction(ctx, entries, fresh, &undo)
	}, func(tx store.Tx) error {
		for _, en := range entries {
			if en.method != "GET" {
				continue
			}
			if en.id != "" {
				// A deleted resource answers like a read: refused when
				// out of reach, before it is said to be gone.
				if cur, err := tx.Read(en.typ, en.id); err == nil && cur.Deleted {
					if reach := e.reachOf(ctx, access.Read, en.typ); reach != nil {
						if err := e.checkTarget(ctx, nil, reach, access.Target{Type: en.typ, Owner: cur.Owner}); err != nil {
							return entryErr(en, err)
						}
					}
				}
			}
			r, err := readInTx(tx, en)
			if err == nil && r.Read != nil {
				// Opened here (once), to be decided before the commit.
				if err = e.openBody(ctx, r.Read); err == nil {
					err = e.checkRead(ctx, nil, e.reachOf(ctx, access.Read, en.typ), r.Read)
				}
			}
			if err != nil {
				if en.id != "" {
					err = e.missing(ctx, e.reachOf(ctx, access.Read, en.typ), en.typ, err)
				}
				return entryErr(en, err)
			}
			results[en.index] = r
		}
		return nil
	}, func(ops []*op) *audit.Event {
		// One entity per written entry (the GET entries are audited as
		// the reads and searches they are, below).
		ev.Count = len(entries)
		ev.Entries, ev.Patients = ev.Entries[:0], ev.Patients[:0]
		for _, o := range ops {
			if o.w == nil {
				continue
			}
			in := "update"
			switch {
			case o.w.Deleted:
				in = "delete"
			case o.w.Version == 1:
				in = "create"
			}
			ev.Entries = append(ev.Entries, audit.Entry{Interaction: in, Type: o.w.Type, ID: o.w.ID, Version: o.w.Version, Outcome: audit.Success})
			if o.w.Owner != "" && !slices.Contains(ev.Patients, o.w.Owner) {
				ev.Patients = append(ev.Patients, o.w.Owner)
			}
		}
		return ev
	})
	if err != nil {
		return nil, err
	}
	k := 0
	for _, en := range processingOrder(entries) {
		if en.method == "GET" {
			continue
		}
		r := ops[k].result
		results[en.index] = &EntryResult{Method: en.method, Write: &r}
		k++
	}
	// The reads are opened and audited like any other.
	for _, en := range entries {
		if en.method != "GET" {
			continue
		}
		r := results[en.index]
		if r.Search != nil { // a read's body was opened in the transaction
			if err := e.openResults(ctx, r); err != nil {
				return nil, err
			}
		}
		in, n := access.Read, 1
		if r.Search != nil {
			in, n = access.SearchType, len(r.Search.Result.Matches)+len(r.Search.Result.Included)
		}
		ev := e.event(ctx, in, en.typ, en.id)
		ev.Count = n
		switch {
		case r.Read != nil:
			ev.Patients = owners(nil, r.Read)
		case r.Search != nil:
			ev.Patients = owners(owners(nil, r.Search.Result.Matches...), r.Search.Result.Included...)
		}
		if err := e.record(ctx, ev, nil); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// hasChain reports whether a query has chains or _has clauses.
func hasChain(where []store.Clause) bool {
	for _, cl := range where {
		for _, c := range cl {
			switch c := c.(type) {
			case store.ChainCond, store.HasCond:
				return true
			case store.NotCond:
				if hasChain([]store.Clause{{c.Cond}}) {
					return true
				}
			}
		}
	}
	return false
}

// MaxConditionalEntries caps the conditional entries of one transaction:
// each runs a search inside the single write transaction.
const MaxConditionalEntries = 1000

// readInTx runs a transaction's GET entry (a read or a search) on the
// transaction's own view.
func readInTx(tx store.Tx, en *entry) (*EntryResult, error) {
	r := &EntryResult{Method: "GET"}
	if en.id != "" {
		res, err := tx.Read(en.typ, en.id)
		if err != nil {
			return nil, storeErr(err, "resource")
		}
		if res.Deleted {
			return nil, fault.New(fault.Gone, "the resource has been deleted")
		}
		r.Read = res
		return r, nil
	}
	q := en.search.Query
	if en.search.Summary == "count" {
		q.Count = 0
	}
	res, err := tx.Search(&q)
	if err != nil {
		return nil, storeErr(err, "search")
	}
	r.SearchOf = en.typ
	r.Search = &SearchPage{Search: en.search, Result: res}
	return r, nil
}

func writeInteraction(method string) (access.Interaction, bool) {
	switch method {
	case "POST":
		return access.Create, true
	case "PUT":
		return access.Update, true
	case "DELETE":
		return access.Delete, true
	}
	return "", false
}

// processingOrder returns the entries in the transaction processing order.
func processingOrder(entries []*entry) []*entry {
	rank := map[string]int{"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b *entry) int { return rank[a.method] - rank[b.method] })
	return out
}

// checkDistinctTargets refuses a transaction that touches one resource
// twice, or repeats the criteria of a conditional entry (every check runs
// before any write, so both would act as if the other did not exist).
func checkDistinctTargets(entries []*entry) error {
	seen := make(map[string]int)
	for _, en := range entries {
		if en.method == "GET" {
			continue
		}
		var k string
		switch {
		case en.ifNoneExist != "":
			k = en.typ + "?" + en.ifNoneExist
		case en.query != "":
			k = en.typ + "?" + en.query
		case en.id != "":
			k = en.typ + "/" + en.id
		default:
			continue
		}
		if prev, dup := seen[k]; dup {
			return fault.New(fault.Invalid, "entries %d and %d of the transaction change the same resource or repeat the same conditional criteria", prev, en.index)
		}
		seen[k] = en.index
	}
	return nil
}

// prepareTransaction resolves identities and references and builds every
// write. It reads through the store's readers; its assumptions become
// checks that the transaction verifies.
func (e *Engine) prepareTransaction(ctx context.Context, entries []*entry, fresh map[int]string, undo *[]refUndo) ([]*op, error) {
	ordered := processingOrder(entries)
	ops := make(map[int]*op, len(entries))
	// 1. Where every entry's resource lives: fullUrl -> Type/id.
	idOf := make(map[string]string)
	for _, en := range ordered {
		switch en.method {
		case "POST":
			id := fresh[en.index]
			if en.ifNoneExist != "" {
				ids, q, err := e.conditional(ctx, en.typ, en.ifNoneExist)
				if err != nil {
					return nil, entryErr(en, err)
				}
				switch len(ids) {
				case 0:
					ops[en.index] = &op{checks: []check{{q: q}}}
				case 1:
					cur, err := e.store.Read(ctx, en.typ, ids[0])
					if err != nil {
						return nil, entryErr(en, storeErr(err, "resource"))
					}
					if err := e.openBody(ctx, cur); err != nil {
						return nil, entryErr(en, err)
					}
					ops[en.index] = &op{checks: []check{{q: q, want: ids}}, result: WriteResult{Resource: cur, NoOp: true}}
					id = ids[0]
				default:
					return nil, entryErr(en, fault.New(fault.PreconditionFailed, "the ifNoneExist criteria match more than one resource"))
				}
			}
			en.id = id
		case "PUT", "DELETE":
			if en.query != "" {
				ids, q, err := e.conditional(ctx, en.typ, en.query)
				if err != nil {
					return nil, entryErr(en, err)
				}
				checks := []check{{q: q, want: ids}}
				switch len(ids) {
				case 0:
					if en.method == "DELETE" {
						ops[en.index] = &op{checks: checks, result: WriteResult{NoOp: true}}
						continue
					}
					en.id = fresh[en.index]
					if en.bodyID != "" {
						// Creating at the client's id must not overwrite a
						// resource that did not match the criteria.
						c, err := e.absent(ctx, en.typ, en.bodyID)
						if err != nil {
							return nil, entryErr(en, err)
						}
						en.id = en.bodyID
						checks = append(checks, c)
					}
				case 1:
					if en.bodyID != "" && en.bodyID != ids[0] {
						return nil, entryErr(en, fault.New(fault.Invalid, "the resource id does not match the resource found by the criteria"))
					}
					en.id = ids[0]
				default:
					return nil, entryErr(en, fault.New(fault.PreconditionFailed, "the conditional criteria match more than one resource"))
				}
				ops[en.index] = &op{checks: checks}
			}
		}
		if en.fullURL != "" && en.id != "" {
			idOf[en.fullURL] = en.typ + "/" + en.id
		}
	}
	// 2. Rewrite references and build the writes.
	var out []*op
	for _, en := range ordered {
		if en.method == "GET" {
			continue
		}
		o := ops[en.index]
		if o == nil {
			o = &op{}
		}
		out = append(out, o)
		if o.result.NoOp {
			continue
		}
		switch en.method {
		case "POST", "PUT":
			if err := e.resolveRefs(ctx, en.res, idOf, &o.checks, undo); err != nil {
				return nil, entryErr(en, err)
			}
			if en.method == "PUT" && en.query == "" && en.bodyID != en.id {
				return nil, entryErr(en, fault.New(fault.Invalid, "the resource id must equal the id in request.url"))
			}
			warnings, err := e.validate(en.res, en.typ)
			if err != nil {
				return nil, entryErr(en, err)
			}
			var prepared *op
			if en.method == "POST" {
				w, r, err := e.build(ctx, en.res, en.typ, en.id, 1, e.stamp(), store.MethodCreate)
				if err != nil {
					return nil, entryErr(en, err)
				}
				prepared = &op{w: w, result: WriteResult{Resource: r, Created: true}}
			} else {
				prepared, err = e.prepareUpdate(ctx, en.typ, en.id, en.res, en.ifMatch, nil)
				if err != nil {
					return nil, entryErr(en, err)
				}
			}
			o.w, o.result = prepared.w, prepared.result
			o.result.Warnings = warnings
		case "DELETE":
			prepared, err := e.prepareDelete(ctx, en.typ, en.id, nil)
			if err != nil {
				return nil, entryErr(en, err)
			}
			o.w, o.result = prepared.w, prepared.result
		}
	}
	return out, nil
}

// entryErr adds the entry position to an error's client message.
func entryErr(en *entry, err error) error {
	if f, ok := fault.As(err); ok {
		c := *f
		if len(c.Issues) > 0 {
			c.Issues = slices.Clone(c.Issues)
			for i := range c.Issues {
				for j, x := range c.Issues[i].Expression {
					c.Issues[i].Expression = slices.Clone(c.Issues[i].Expression)
					c.Issues[i].Expression[j] = fmt.Sprintf("Bundle.entry[%d].resource.%s", en.index, strings.TrimPrefix(x, en.typ+"."))
				}
			}
		} else {
			c.Msg = fmt.Sprintf("Bundle.entry[%d]: %s", en.index, c.Msg)
		}
		return &c
	}
	return fmt.Errorf("bundle entry %d: %w", en.index, err)
}

// Batch processes a batch Bundle: each entry on its own, failures reported
// per entry.
func (e *Engine) Batch(ctx context.Context, bundle map[string]any) ([]*EntryResult, error) {
	ev, err := e.begin(ctx, access.Batch, "", "")
	if err != nil {
		return nil, err
	}
	ev.Type, ev.ID = "Bundle", ""
	entries, err := e.parseEntries(bundle, "batch")
	if err != nil {
		return nil, e.record(ctx, ev, err)
	}
	results := make([]*EntryResult, len(entries))
	if p := access.PrincipalFrom(ctx); p != nil && p.BreakGlass != "" {
		// One reason opens one patient: not the several a batch may
		// name. Grants already in force still serve its entries.
		q := *p
		q.BreakGlass = ""
		ctx = access.WithPrincipal(ctx, &q)
	}
	for _, en := range entries {
		results[en.index] = e.batchEntry(ctx, en)
	}
	ev.Count = len(results)
	if err := e.record(ctx, ev, nil); err != nil {
		return nil, err
	}
	return results, nil
}

func (e *Engine) batchEntry(ctx context.Context, en *entry) *EntryResult {
	r := &EntryResult{Method: en.method}
	var err error
	switch en.method {
	case "GET":
		return e.get(ctx, en)
	case "POST":
		if hasConditionalRef(en.res) {
			err = e.resolveRefs(ctx, en.res, nil, nil, nil)
		}
		if err == nil {
			r.Write, err = e.Create(ctx, en.typ, en.res, en.ifNoneExist)
		}
	case "PUT":
		if hasConditionalRef(en.res) {
			err = e.resolveRefs(ctx, en.res, nil, nil, nil)
		}
		if err == nil {
			if en.query != "" {
				r.Write, err = e.ConditionalUpdate(ctx, en.typ, en.query, en.res, en.ifMatch)
			} else {
				r.Write, err = e.Update(ctx, en.typ, en.id, en.res, en.ifMatch)
			}
		}
	case "DELETE":
		if en.query != "" {
			r.Write, err = e.ConditionalDelete(ctx, en.typ, en.query)
		} else {
			r.Write, err = e.Delete(ctx, en.typ, en.id)
		}
	}
	r.Err = err
	return r
}

// get runs a GET entry: read, vread, history or search.
func (e *Engine) get(ctx context.Context, en *entry) *EntryResult {
	r := &EntryResult{Method: "GET"}
	var err error
	switch {
	case en.id != "" && en.version > 0:
		r.Read, err = e.VRead(ctx, en.typ, en.id, en.version)
	case en.history:
		var params url.Values
		params, err = url.ParseQuery(en.query)
		if err == nil {
			r.History, err = e.History(ctx, &HistoryRequest{Type: en.typ, ID: en.id, Params: params})
		} else {
			err = fault.New(fault.Invalid, "invalid query")
		}
	case en.id != "":
		r.Read, err = e.Read(ctx, en.typ, en.id)
	default:
		var params url.Values
		params, err = url.ParseQuery(en.query)
		if err == nil {
			r.SearchOf = en.typ
			r.Search, err = e.Search(ctx, en.typ, params, SearchOptions{})
		} else {
			err = fault.New(fault.Invalid, "invalid query")
		}
	}
	r.Err = err
	return r
}

// parseEntries checks the Bundle's shape and parses its entries.
func (e *Engine) parseEntries(bundle map[string]any, want string) ([]*entry, error) {
	if rt, _ := bundle["resourceType"].(string); rt != "Bundle" {
		return nil, fault.New(fault.Invalid, "a batch or transaction must be a Bundle")
	}
	if t, _ := bundle["type"].(string); t != want {
		return nil, fault.New(fault.Invalid, "Bundle.type must be %s", want)
	}
	raw, _ := bundle["entry"].([]any)
	if _, present := bundle["entry"]; present && raw == nil {
		return nil, fault.New(fault.Invalid, "Bundle.entry must be an array")
	}
	if len(raw) > e.maxEnts {
		return nil, fault.New(fault.TooLarge, "a Bundle may hold at most %d entries", e.maxEnts)
	}
	entries := make([]*entry, 0, len(raw))
	fullURLs := make(map[string]int)
	for i, x := range raw {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fault.New(fault.Invalid, "Bundle.entry[%d] must be an object", i)
		}
		en, err := parseEntry(i, m)
		if err != nil {
			return nil, err
		}
		if en.fullURL != "" {
			if prev, dup := fullURLs[en.fullURL]; dup {
				return nil, fault.New(fault.Invalid, "Bundle.entry[%d] and Bundle.entry[%d] have the same fullUrl", prev, i)
			}
			fullURLs[en.fullURL] = i
		}
		entries = append(entries, en)
	}
	return entries, nil
}

func parseEntry(i int, m map[string]any) (*entry, error) {
	bad := func(format string, args ...any) error {
		return fault.New(fault.Invalid, "Bundle.entry[%d]: %s", i, fmt.Sprintf(format, args...))
	}
	en := &entry{index: i}
	en.fullURL, _ = m["fullUrl"].(string)
	req, ok := m["request"].(map[string]any)
	if !ok {
		return nil, bad("request is required")
	}
	en.method, _ = req["method"].(string)
	rawURL, _ := req["url"].(string)
	if rawURL == "" {
		return nil, bad("request.url is required")
	}
	switch en.method {
	case "GET", "HEAD":
		en.method = "GET"
	case "POST", "PUT", "DELETE":
	case "PATCH":
		return nil, fault.New(fault.NotImplemented, "Bundle.entry[%d]: PATCH is not supported", i)
	default:
		return nil, bad("request.method must be GET, HEAD, POST, PUT or DELETE")
	}
	en.ifNoneExist, _ = req["ifNoneExist"].(string)
	if im, _ := req["ifMatch"].(string); im != "" {
		v, ok := ParseETag(im)
		if !ok {
			return nil, bad("request.ifMatch must be an ETag such as W/\"3\"")
		}
		en.ifMatch = v
	}
	path, query, _ := strings.Cut(rawURL, "?")
	en.query = query
	if strings.Contains(path, "://") {
		return nil, bad("request.url must be relative to the server base")
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if !fhir.IsResourceType(segs[0]) {
		return nil, bad("request.url must start with a resource type")
	}
	en.typ = segs[0]
	if en.typ == "AuditEvent" {
		return nil, bad("AuditEvents are the server's own, in its audit log: use GET [base]/AuditEvent, not a Bundle entry")
	}
	switch {
	case len(segs) == 1:
	case len(segs) == 2 && segs[1] == "_history" && en.method == "GET":
		en.history = true
	case len(segs) == 2 && segs[1] == "_search" && en.method == "GET":
	case len(segs) == 2:
		en.id = segs[1]
	case len(segs) == 3 && segs[2] == "_history" && en.method == "GET":
		en.id, en.history = segs[1], true
	case len(segs) == 4 && segs[2] == "_history" && en.method == "GET":
		en.id = segs[1]
		v, err := strconv.ParseInt(segs[3], 10, 64)
		if err != nil || v < 1 {
			return nil, bad("invalid version in request.url")
		}
		en.version = v
	default:
		return nil, bad("request.url is not a supported interaction")
	}
	if en.id != "" && !fhir.ValidID(en.id) {
		return nil, bad("request.url has an invalid id")
	}
	switch en.method {
	case "POST":
		if en.id != "" || en.query != "" {
			return nil, bad("POST takes request.url = the resource type")
		}
	case "PUT":
		if (en.id == "") == (en.query == "") {
			return nil, bad("PUT takes request.url = Type/id or Type?criteria")
		}
	case "DELETE":
		if (en.id == "") == (en.query == "") {
			return nil, bad("DELETE takes request.url = Type/id or Type?criteria")
		}
	}
	if en.method == "POST" || en.method == "PUT" {
		res, ok := m["resource"].(map[string]any)
		if !ok {
			return nil, bad("%s needs a resource", en.method)
		}
		if rt, _ := res["resourceType"].(string); rt != en.typ {
			return nil, bad("the resource type does not match request.url")
		}
		en.res = res
		en.bodyID, _ = res["id"].(string)
	}
	return en, nil
}

// ParseETag reads a version from an ETag (W/"3" or "3").
func ParseETag(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// openResults opens the sealed bodies of a GET entry's results.
func (e *Engine) openResults(ctx context.Context, r *EntryResult) error {
	switch {
	case r.Read != nil:
		return e.openBody(ctx, r.Read)
	case r.Search != nil:
		if err := e.openAll(ctx, r.Search.Result.Matches); err != nil {
			return err
		}
		return e.openAll(ctx, r.Search.Result.Included)
	}
	return nil
}
