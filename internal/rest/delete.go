package rest

import (
	"net/http"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// delete: DELETE [base]/[type]/[id]
func (a *API) delete(w http.ResponseWriter, r *http.Request) error {
	out, err := a.eng.Delete(r.Context(), r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeDeleted(w, r, out)
}

// conditionalDelete: DELETE [base]/[type]?criteria
func (a *API) conditionalDelete(w http.ResponseWriter, r *http.Request) error {
	if r.URL.RawQuery == "" {
		return fault.New(fault.MethodNotAllowed, "DELETE needs a resource id or search criteria")
	}
	crit, err := criteria(r)
	if err != nil {
		return err
	}
	out, err := a.eng.ConditionalDelete(r.Context(), r.PathValue("type"), crit)
	if err != nil {
		return err
	}
	return a.writeDeleted(w, r, out)
}

func (a *API) writeDeleted(w http.ResponseWriter, r *http.Request, out *engine.WriteResult) error {
	if out.Resource != nil && !out.NoOp {
		w.Header().Set("ETag", engine.ETag(out.Resource.Version))
	}
	if preferOf(r).ret == "OperationOutcome" {
		msg := "deleted"
		if out.NoOp {
			msg = "nothing to delete"
		}
		return a.writeValue(w, r, http.StatusOK, fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational", Diagnostics: msg}))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
