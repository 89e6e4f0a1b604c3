package rest

import (
	"net/http"
	"net/url"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/store"
)

// historySystem: GET [base]/_history
func (a *API) historySystem(w http.ResponseWriter, r *http.Request) error {
	return a.history(w, r, "", "")
}

// historyType: GET [base]/[type]/_history
func (a *API) historyType(w http.ResponseWriter, r *http.Request) error {
	typ := r.PathValue("type")
	if !fhir.IsResourceType(typ) {
		return fault.New(fault.NotFound, "unknown resource type")
	}
	return a.history(w, r, typ, "")
}

// historyInstance: GET [base]/[type]/[id]/_history
func (a *API) historyInstance(w http.ResponseWriter, r *http.Request) error {
	return a.history(w, r, r.PathValue("type"), r.PathValue("id"))
}

func (a *API) history(w http.ResponseWriter, r *http.Request, typ, id string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fault.New(fault.Invalid, "the query string is not valid")
	}
	hr := &engine.HistoryRequest{Type: typ, ID: id, Params: q}
	if tok := q.Get("_page"); tok != "" {
		c, cq, err := a.openCursor(tok, "history", typ, id)
		if err != nil {
			return err
		}
		hr.Params, hr.Offset, hr.Snapshot = cq, c.Offset, c.Snapshot
	}
	page, err := a.eng.History(r.Context(), hr)
	if err != nil {
		return err
	}
	body, err := a.historyBundle(r, typ, id, page)
	if err != nil {
		return err
	}
	a.write(w, r, http.StatusOK, body)
	return nil
}

// historyBundle renders a history Bundle with paging links.
func (a *API) historyBundle(r *http.Request, typ, id string, page *engine.HistoryPage) ([]byte, error) {
	base := a.baseURL(r)
	path := "/_history"
	if typ != "" {
		path = "/" + typ + path
		if id != "" {
			path = "/" + typ + "/" + id + "/_history"
		}
	}
	at := func(offset int) cursor {
		return cursor{Kind: "history", Type: typ, ID: id, Query: page.Params.Encode(), Offset: offset, Snapshot: page.Snapshot}
	}
	var links []link
	add := func(rel string, offset int) error {
		u, err := a.pageLink(base, path, at(offset))
		if err == nil {
			links = append(links, link{rel, u})
		}
		return err
	}
	if err := add("self", page.Offset); err != nil {
		return nil, err
	}
	if page.Count > 0 {
		if page.Offset > 0 {
			if err := add("previous", max(0, page.Offset-page.Count)); err != nil {
				return nil, err
			}
		}
		if page.Offset+len(page.Versions) < page.Total {
			if err := add("next", page.Offset+page.Count); err != nil {
				return nil, err
			}
		}
	}
	b := newBundle("history", a.now())
	b.total(page.Total)
	b.links(links)
	for _, v := range page.Versions {
		reqURL := v.Type + "/" + v.ID
		status := "200 OK"
		switch v.Method {
		case store.MethodCreate:
			reqURL, status = v.Type, "201 Created"
		case store.MethodDelete:
			status = "204 No Content"
		}
		var body []byte
		if !v.Deleted {
			body = v.Body
		}
		b.entry(base+"/"+v.Type+"/"+v.ID, body, map[string]any{
			"request":  map[string]any{"method": v.Method.String(), "url": reqURL},
			"response": map[string]any{"status": status, "etag": engine.ETag(v.Version), "lastModified": engine.FormatInstant(v.Updated)},
		})
	}
	body, err := b.bytes()
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	return body, nil
}
