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
//
// GET answers HEAD too. Another method on these paths is 405, another path
// 404, both as OperationOutcome.
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metadata", a.methods(map[string]handlerFunc{"GET": a.capabilities}))
	mux.Handle("/{$}", a.methods(map[string]handlerFunc{"POST": a.bundle}))
	mux.Handle("/_history", a.methods(map[string]handlerFunc{"GET": a.historySystem}))
	mux.Handle("/{type}", a.methods(map[string]handlerFunc{"GET": a.search, "POST": a.create, "PUT": a.conditionalUpdate, "DELETE": a.conditionalDelete}))
	mux.Handle("/{type}/_search", a.methods(map[string]handlerFunc{"GET": a.search, "POST": a.search}))
	mux.Handle("/{type}/_history", a.methods(map[string]handlerFunc{"GET": a.historyType}))
	mux.Handle("/{type}/{id}", a.methods(map[string]handlerFunc{"GET": a.read, "PUT": a.update, "DELETE": a.delete}))
	mux.Handle("/{type}/{id}/_history", a.methods(map[string]handlerFunc{"GET": a.historyInstance}))
	mux.Handle("/{type}/{id}/_history/{version}", a.methods(map[string]handlerFunc{"GET": a.vread}))
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
