package rest

import (
	"net/http"
	"strings"

	"github.com/hestiahealth/hestia/internal/fault"
)

// Routes returns the handler of the FHIR API. This table is the whole FHIR
// attack surface. Authentication is not built yet: until it is, the server
// listens on loopback by default (see internal/server).
//
//	path                              method  interaction
//	/metadata                         GET     capabilities
//	/                                 POST    batch, transaction
//	/_history                         GET     history-system
//	/{type}                           GET     search-type
//	/{type}                           POST    create, conditional create (If-None-Exist)
//	/{type}?criteria                  PUT     conditional update
//	/{type}?criteria                  DELETE  conditional delete
//	/{type}/_search                   GET     search-type
//	/{type}/_search                   POST    search-type (form body)
//	/{type}/_history                  GET     history-type
//	/{type}/{id}                      GET     read
//	/{type}/{id}                      PUT     update, update as create
//	/{type}/{id}                      DELETE  delete
//	/{type}/{id}/_history             GET     history-instance
//	/{type}/{id}/_history/{version}   GET     vread
//	/audit/checkpoint                 GET     the audit log's signed checkpoint (audit.go)
//	/audit/proof/inclusion            GET     an inclusion proof
//	/audit/proof/consistency          GET     a consistency proof
//	/AuditEvent                       GET     search the audit log (other interactions on it: 405)
//	/AuditEvent/{id}                  GET     one audit event, by log index
//	/Patient/{id}/$access-report      GET     who accessed a patient's data
//
// GET answers HEAD too. Another method on these paths is 405, another path
// 404, both as OperationOutcome.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metadata", a.methods(map[string]handlerFunc{"GET": a.capabilities}))
	mux.Handle("/{$}", a.methods(map[string]handlerFunc{"POST": a.bundle}))
	mux.Handle("/_history", a.methods(map[string]handlerFunc{"GET": a.historySystem}))
	mux.Handle("/{type}", a.methods(map[string]handlerFunc{"GET": a.orAudit(a.search, a.auditEvents), "POST": a.orAudit(a.create, nil),
		"PUT": a.orAudit(a.conditionalUpdate, nil), "DELETE": a.orAudit(a.conditionalDelete, nil)}))
	mux.Handle("/{type}/_search", a.methods(map[string]handlerFunc{"GET": a.orAudit(a.search, a.auditEvents), "POST": a.orAudit(a.search, nil)}))
	mux.Handle("/{type}/_history", a.methods(map[string]handlerFunc{"GET": a.orAudit(a.historyType, nil)}))
	mux.Handle("/{type}/{id}", a.methods(map[string]handlerFunc{"GET": a.orAudit(a.read, a.auditEvent), "PUT": a.orAudit(a.update, nil), "DELETE": a.orAudit(a.delete, nil)}))
	mux.Handle("/{type}/{id}/_history", a.methods(map[string]handlerFunc{"GET": a.orAudit(a.historyInstance, nil)}))
	mux.Handle("/{type}/{id}/_history/{version}", a.methods(map[string]handlerFunc{"GET": a.orAudit(a.vread, nil)}))
	mux.Handle("/audit/checkpoint", a.methods(map[string]handlerFunc{"GET": a.auditCheckpoint}))
	mux.Handle("/audit/proof/inclusion", a.methods(map[string]handlerFunc{"GET": a.auditInclusion}))
	mux.Handle("/audit/proof/consistency", a.methods(map[string]handlerFunc{"GET": a.auditConsistency}))
	mux.Handle("/Patient/{id}/$access-report", a.methods(map[string]handlerFunc{"GET": a.accessReport}))
	mux.HandleFunc("/", a.NotFound)
	return mux
}

// methods dispatches on the HTTP method; HEAD is served as GET.
func (a *API) methods(byMethod map[string]handlerFunc) http.Handler {
	allow := make([]string, 0, len(byMethod)+1)
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE"} {
		if _, ok := byMethod[m]; ok || m == "HEAD" && byMethod["GET"] != nil {
			allow = append(allow, m)
		}
	}
	allowed := strings.Join(allow, ", ")
	handlers := make(map[string]http.Handler, len(byMethod))
	for m, h := range byMethod {
		handlers[m] = a.wrap(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := r.Method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		h, ok := handlers[m]
		if !ok {
			w.Header().Set("Allow", allowed)
			a.fail(w, r, fault.New(fault.MethodNotAllowed, "method %s is not supported on this path", r.Method))
			return
		}
		h.ServeHTTP(w, r)
	})
}
