package rest

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
)

// The audit log's endpoints. Checkpoints and proofs hold hashes only and
// are meant to be public, so that anyone can check the log (as with
// Certificate Transparency); audit events and access reports are for
// administrators and auditors (the policy decides).
//
//	/audit/checkpoint                      GET  the latest signed checkpoint (text/plain, C2SP tlog-checkpoint)
//	/audit/proof/inclusion?index=I&size=N  GET  {"index","size","leaf","hashes"} (base64 SHA-256)
//	/audit/proof/consistency?from=M&to=N   GET  {"from","to","hashes"}
//	/AuditEvent                            GET  search the audit log (a searchset Bundle of AuditEvents)
//	/AuditEvent/{index}                    GET  one event by log index
//	/Patient/{id}/$access-report           GET  who accessed the patient's data (a searchset Bundle)

func (a *API) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := a.eng.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	writeRaw(w, r, "text/plain; charset=utf-8", cp)
	return nil
}

// writeRaw sends a body that is not a FHIR resource.
func writeRaw(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// uintParams reads the named non-negative integer query parameters, all
// required.
func uintParams(r *http.Request, names ...string) ([]uint64, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fault.New(fault.Invalid, "the query string is not valid")
	}
	out := make([]uint64, len(names))
	for i, n := range names {
		v := q.Get(n)
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fault.New(fault.Invalid, "%s must be a non-negative integer", n)
		}
		out[i] = x
	}
	return out, nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func (a *API) writePlainJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	writeRaw(w, r, "application/json", body)
	return nil
}

func (a *API) auditInclusion(w http.ResponseWriter, r *http.Request) error {
	p, err := uintParams(r, "index", "size")
	if err != nil {
		return err
	}
	leaf, proof, err := a.eng.InclusionProof(r.Context(), p[0], p[1])
	if err != nil {
		return err
	}
	return a.writePlainJSON(w, r, map[string]any{"index": p[0], "size": p[1],
		"leaf": base64.StdEncoding.EncodeToString(leaf), "hashes": b64s(proof)})
}

func (a *API) auditConsistency(w http.ResponseWriter, r *http.Request) error {
	p, err := uintParams(r, "from", "to")
	if err != nil {
		return err
	}
	proof, err := a.eng.ConsistencyProof(r.Context(), p[0], p[1])
	if err != nil {
		return err
	}
	return a.writePlainJSON(w, r, map[string]any{"from": p[0], "to": p[1], "hashes": b64s(proof)})
}

// auditQuery is a request's AuditEvent search parameters (the query
// string without the response-format ones).
func auditQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fault.New(fault.Invalid, "the query string is not valid")
	}
	delete(q, "_format")
	delete(q, "_pretty")
	return q, nil
}

func (a *API) auditEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	page, err := a.eng.AuditEvents(r.Context(), q)
	if err != nil {
		return err
	}
	return a.auditBundle(w, r, a.baseURL(r)+"/AuditEvent", q, page)
}

func (a *API) auditEvent(w http.ResponseWriter, r *http.Request) error {
	i, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return fault.New(fault.NotFound, "AuditEvent ids are log indices")
	}
	page, err := a.eng.AuditEvents(r.Context(), url.Values{"_before": {strconv.FormatUint(i+1, 10)}, "_count": {"1"}})
	if err != nil {
		return err
	}
	if len(page.Hits) == 0 || page.Hits[0].Index != i {
		return fault.New(fault.NotFound, "no such AuditEvent")
	}
	body, err := json.Marshal(page.Hits[0].Resource())
	if err != nil {
		return fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	a.write(w, r, http.StatusOK, body)
	return nil
}

func (a *API) accessReport(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	page, err := a.eng.AccessReport(r.Context(), id, q)
	if err != nil {
		return err
	}
	return a.auditBundle(w, r, a.baseURL(r)+"/Patient/"+id+"/$access-report", q, page)
}

func (a *API) auditBundle(w http.ResponseWriter, r *http.Request, self string, q url.Values, page *engine.AuditPage) error {
	b := newBundle("searchset", a.now())
	links := []link{{"self", self + "?" + q.Encode()}}
	if page.Before > 0 {
		next := maps.Clone(q)
		next.Set("_before", strconv.FormatUint(page.Before, 10))
		links = append(links, link{"next", self + "?" + next.Encode()})
	}
	b.links(links)
	base := a.baseURL(r)
	for _, h := range page.Hits {
		body, err := json.Marshal(h.Resource())
		if err != nil {
			return fault.Wrap(fault.Internal, err, "response encoding failed")
		}
		b.entry(base+"/AuditEvent/"+strconv.FormatUint(h.Index, 10), body, map[string]any{"search": map[string]any{"mode": "match"}})
	}
	body, err := b.bytes()
	if err != nil {
		return fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	a.write(w, r, http.StatusOK, body)
	return nil
}

// orAudit routes the AuditEvent type to the audit log: h serves every
// other type; onAudit serves AuditEvent (nil: the interaction is refused,
// since AuditEvents are written by the server alone, into its log).
func (a *API) orAudit(h, onAudit handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("type") != "AuditEvent" {
			return h(w, r)
		}
		if onAudit == nil {
			w.Header().Set("Allow", "GET, HEAD")
			return fault.New(fault.MethodNotAllowed, "AuditEvents are written by the server alone: only search and read are supported")
		}
		return onAudit(w, r)
	}
}
