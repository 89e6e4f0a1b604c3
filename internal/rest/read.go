package rest

import (
	"net/http"

	"github.com/hestiahealth/hestia/internal/engine"
)

// read: GET [base]/[type]/[id]
func (a *API) read(w http.ResponseWriter, r *http.Request) error {
	res, err := a.eng.Read(r.Context(), r.PathValue("type"), r.PathValue("id"))
	if g, ok := engine.AsGone(err); ok {
		w.Header().Set("ETag", engine.ETag(g.Version))
	}
	if err != nil {
		return err
	}
	return a.writeResource(w, r, http.StatusOK, res)
}

// vread: GET [base]/[type]/[id]/_history/[version]
func (a *API) vread(w http.ResponseWriter, r *http.Request) error {
	v, err := pathVersion(r.PathValue("version"))
	if err != nil {
		return err
	}
	res, err := a.eng.VRead(r.Context(), r.PathValue("type"), r.PathValue("id"), v)
	if err != nil {
		return err
	}
	return a.writeResource(w, r, http.StatusOK, res)
}

// writeResource sends one resource version with its ETag and
// Last-Modified, honouring If-None-Match, _summary and _elements.
func (a *API) writeResource(w http.ResponseWriter, r *http.Request, status int, res *engine.Resource) error {
	setVersionHeaders(w, res)
	if status == http.StatusOK && r.Header.Get("If-None-Match") != "" {
		if v, ok := engine.ParseETag(r.Header.Get("If-None-Match")); ok && v == res.Version {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	body, err := shape(res.Body, r.URL.Query())
	if err != nil {
		return err
	}
	a.write(w, r, status, body)
	return nil
}
