package rest

import (
	"net/http"
	"strings"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// create: POST [base]/[type], conditional with If-None-Exist.
func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	res, err := a.readResource(w, r)
	if err != nil {
		return err
	}
	// The header holds search parameters; some clients send them as
	// "Type?params" or "?params".
	ifNoneExist := r.Header.Get("If-None-Exist")
	if _, q, found := strings.Cut(ifNoneExist, "?"); found {
		ifNoneExist = q
	}
	out, err := a.eng.Create(r.Context(), r.PathValue("type"), res, ifNoneExist)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if out.NoOp {
		status = http.StatusOK
	}
	return a.writeWriteResult(w, r, status, out)
}

// writeWriteResult answers a create or update per the Prefer header, with
// Location, ETag and Last-Modified.
func (a *API) writeWriteResult(w http.ResponseWriter, r *http.Request, status int, out *engine.WriteResult) error {
	res := out.Resource
	w.Header().Set("Location", a.baseURL(r)+"/"+res.Type+"/"+res.ID+"/_history/"+itoa(res.Version))
	if status == http.StatusCreated {
		w.Header().Set("Content-Location", w.Header().Get("Location"))
	}
	setVersionHeaders(w, res)
	switch preferOf(r).ret {
	case "minimal":
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		return nil
	case "OperationOutcome":
		issues := out.Warnings
		if len(issues) == 0 {
			msg := "updated"
			if status == http.StatusCreated {
				msg = "created"
			} else if out.NoOp {
				msg = "a matching resource exists; nothing was created"
			}
			issues = []fhir.Issue{{Severity: "information", Code: "informational", Diagnostics: msg}}
		}
		return a.writeValue(w, r, status, fhir.OperationOutcome(issues...))
	}
	a.write(w, r, status, res.Body)
	return nil
}
