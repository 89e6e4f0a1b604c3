package rest

import (
	"net/http"
	"net/url"

	"github.com/hestiahealth/hestia/internal/fault"
)

// update: PUT [base]/[type]/[id], creating the resource if needed.
func (a *API) update(w http.ResponseWriter, r *http.Request) error {
	res, err := a.readResource(w, r)
	if err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	out, err := a.eng.Update(r.Context(), r.PathValue("type"), r.PathValue("id"), res, match)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
	}
	return a.writeWriteResult(w, r, status, out)
}

// conditionalUpdate: PUT [base]/[type]?criteria
func (a *API) conditionalUpdate(w http.ResponseWriter, r *http.Request) error {
	if r.URL.RawQuery == "" {
		return fault.New(fault.MethodNotAllowed, "PUT needs a resource id or search criteria")
	}
	res, err := a.readResource(w, r)
	if err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	crit, err := criteria(r)
	if err != nil {
		return err
	}
	out, err := a.eng.ConditionalUpdate(r.Context(), r.PathValue("type"), crit, res, match)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
	}
	return a.writeWriteResult(w, r, status, out)
}

// criteria is the query of a conditional interaction, without the
// parameters that only shape the response. A query that does not parse is
// refused: dropping the bad part would widen the match.
func criteria(r *http.Request) (string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", fault.New(fault.Invalid, "the query string is not valid")
	}
	q.Del("_format")
	q.Del("_pretty")
	return q.Encode(), nil
}
