package rest

import (
	"net/http"
	"net/url"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/store"
)

// search: GET [base]/[type]?params, POST [base]/[type]/_search, and the
// paging links (?_page=cursor) of both.
func (a *API) search(w http.ResponseWriter, r *http.Request) error {
	typ := r.PathValue("type")
	if !fhir.IsResourceType(typ) {
		return fault.New(fault.NotFound, "unknown resource type")
	}
	q, err := a.requestQuery(w, r)
	if err != nil {
		return err
	}
	opt := engine.SearchOptions{Lenient: preferOf(r).lenient}
	if tok := q.Get("_page"); tok != "" {
		c, cq, err := a.openCursor(tok, "search", typ, "")
		if err != nil {
			return err
		}
		q, opt = cq, engine.SearchOptions{Lenient: c.Lenient, Offset: c.Offset, Snapshot: c.Snapshot}
	}
	page, err := a.eng.Search(r.Context(), typ, q, opt)
	if err != nil {
		return err
	}
	body, err := a.searchBundle(r, typ, page, opt.Lenient)
	if err != nil {
		return err
	}
	a.write(w, r, http.StatusOK, body)
	return nil
}

// MaxResponse is the size a searchset Bundle grows to at most (unless one
// resource alone is larger).
const MaxResponse = 32 << 20

// searchBundle renders a searchset Bundle with paging links.
func (a *API) searchBundle(r *http.Request, typ string, page *engine.SearchPage, lenient bool) ([]byte, error) {
	base := a.baseURL(r)
	s, res := page.Search, page.Result
	b := newBundle("searchset", a.now())
	if res.Total >= 0 {
		b.total(res.Total)
	}
	count := s.Query.Count
	// Entries are added while the Bundle stays under MaxResponse; a page
	// cut short continues on the next page, so nothing is lost.
	q := url.Values{"_summary": {s.Summary}}
	if len(s.Elements) > 0 {
		q.Set("_elements", joinComma(s.Elements))
	}
	type shaped struct {
		r    *store.Resource
		body []byte
	}
	var matches, included []shaped
	size := 0
	for _, r := range res.Matches {
		body, err := shape(r.Body, q)
		if err != nil {
			return nil, err
		}
		if len(matches) > 0 && size+len(body) > MaxResponse {
			break
		}
		size += len(body)
		matches = append(matches, shaped{r, body})
	}
	cut := len(matches) < len(res.Matches)
	if !cut {
		for _, r := range res.Included {
			body := r.Body
			if s.Summary != "" {
				var err error
				if body, err = shape(r.Body, url.Values{"_summary": {s.Summary}}); err != nil {
					return nil, err
				}
			}
			if size+len(body) > MaxResponse {
				break
			}
			size += len(body)
			included = append(included, shaped{r, body})
		}
	}
	at := func(offset int) cursor {
		return cursor{Kind: "search", Type: typ, Query: s.Params.Encode(), Offset: offset, Snapshot: res.Snapshot, Lenient: lenient}
	}
	var links []link
	add := func(rel string, offset int) error {
		u, err := a.pageLink(base, "/"+typ, at(offset))
		if err == nil {
			links = append(links, link{rel, u})
		}
		return err
	}
	if err := add("self", page.Offset); err != nil {
		return nil, err
	}
	if s.Summary != "count" && count > 0 {
		if err := add("first", 0); err != nil {
			return nil, err
		}
		if page.Offset > 0 {
			if err := add("previous", max(0, page.Offset-count)); err != nil {
				return nil, err
			}
		}
		if res.More || cut {
			if err := add("next", page.Offset+len(matches)); err != nil {
				return nil, err
			}
		}
	}
	b.links(links)
	for _, m := range matches {
		b.entry(base+"/"+m.r.Type+"/"+m.r.ID, m.body, map[string]any{"search": map[string]any{"mode": "match"}})
	}
	for _, m := range included {
		b.entry(base+"/"+m.r.Type+"/"+m.r.ID, m.body, map[string]any{"search": map[string]any{"mode": "include"}})
	}
	if len(s.Warnings) > 0 {
		oo, err := fhir.Marshal(fhir.OperationOutcome(s.Warnings...))
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "response encoding failed")
		}
		b.entry("", oo, map[string]any{"search": map[string]any{"mode": "outcome"}})
	}
	return b.bytes()
}

func joinComma(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
