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

// searchBundle renders a searchset Bundle with paging links.
func (a *API) searchBundle(r *http.Request, typ string, page *engine.SearchPage, lenient bool) ([]byte, error) {
	base := a.baseURL(r)
	s, res := page.Search, page.Result
	b := newBundle("searchset", a.now())
	if res.Total >= 0 {
		b.total(res.Total)
	}
	count := s.Query.Count
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
		if res.More {
			if err := add("next", page.Offset+count); err != nil {
				return nil, err
			}
		}
	}
	b.links(links)
	q := url.Values{"_summary": {s.Summary}}
	if len(s.Elements) > 0 {
		q.Set("_elements", joinComma(s.Elements))
	}
	emit := func(rs []*store.Resource, mode string) error {
		for _, r := range rs {
			body := r.Body
			if mode == "match" || s.Summary != "" {
				var err error
				if body, err = shape(r.Body, q); err != nil {
					return err
				}
			}
			b.entry(base+"/"+r.Type+"/"+r.ID, body, map[string]any{"search": map[string]any{"mode": mode}})
		}
		return nil
	}
	if err := emit(res.Matches, "match"); err != nil {
		return nil, err
	}
	if err := emit(res.Included, "include"); err != nil {
		return nil, err
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
