package rest

import (
	"log/slog"
	"net/http"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// bundle: POST [base]/ with a batch or transaction Bundle.
func (a *API) bundle(w http.ResponseWriter, r *http.Request) error {
	res, err := a.readResource(w, r)
	if err != nil {
		return err
	}
	if rt, _ := res["resourceType"].(string); rt != "Bundle" {
		return fault.New(fault.Invalid, "POST to the base URL takes a batch or transaction Bundle")
	}
	var results []*engine.EntryResult
	respType := ""
	switch t, _ := res["type"].(string); t {
	case "transaction":
		respType = "transaction-response"
		results, err = a.eng.Transaction(r.Context(), res)
	case "batch":
		respType = "batch-response"
		results, err = a.eng.Batch(r.Context(), res)
	default:
		return fault.New(fault.Invalid, "Bundle.type must be batch or transaction")
	}
	if err != nil {
		return err
	}
	body, err := a.responseBundle(r, respType, results)
	if err != nil {
		return err
	}
	a.write(w, r, http.StatusOK, body)
	return nil
}

// responseBundle renders the entries' outcomes in request order. Written
// resources are included with Prefer: return=representation; read and
// search results always are.
func (a *API) responseBundle(r *http.Request, typ string, results []*engine.EntryResult) ([]byte, error) {
	base := a.baseURL(r)
	withBodies := preferOf(r).ret == "representation"
	b := newBundle(typ, a.now())
	for _, er := range results {
		if er.Err != nil {
			status, oo := outcomeOf(er.Err, engine.RequestID(r.Context()))
			if status >= 500 {
				a.log.ErrorContext(r.Context(), "batch entry failed", slog.String("request", engine.RequestID(r.Context())),
					slog.Int("status", status), slog.String("error", er.Err.Error()))
			}
			b.entry("", nil, map[string]any{"response": map[string]any{"status": statusLine(status), "outcome": oo}})
			continue
		}
		switch {
		case er.Write != nil:
			wr := er.Write
			resp := map[string]any{}
			status := http.StatusOK
			switch {
			case er.Method == "DELETE":
				status = http.StatusNoContent
			case wr.Created:
				status = http.StatusCreated
			}
			resp["status"] = statusLine(status)
			var body []byte
			fullURL := ""
			if res := wr.Resource; res != nil && er.Method != "DELETE" {
				fullURL = base + "/" + res.Type + "/" + res.ID
				resp["location"] = res.Type + "/" + res.ID + "/_history/" + itoa(res.Version)
				resp["etag"] = engine.ETag(res.Version)
				resp["lastModified"] = engine.FormatInstant(res.Updated)
				if withBodies {
					body = res.Body
				}
			}
			if len(wr.Warnings) > 0 {
				resp["outcome"] = fhir.OperationOutcome(wr.Warnings...)
			}
			b.entry(fullURL, body, map[string]any{"response": resp})
		case er.Read != nil:
			res := er.Read
			b.entry(base+"/"+res.Type+"/"+res.ID, res.Body, map[string]any{"response": map[string]any{
				"status": "200 OK", "etag": engine.ETag(res.Version), "lastModified": engine.FormatInstant(res.Updated)}})
		case er.Search != nil:
			inner, err := a.searchBundle(r, er.SearchOf, er.Search, false)
			if err != nil {
				return nil, err
			}
			b.entry("", inner, map[string]any{"response": map[string]any{"status": "200 OK"}})
		case er.History != nil:
			inner, err := a.historyBundle(r, er.History.Type, er.History.ID, er.History)
			if err != nil {
				return nil, err
			}
			b.entry("", inner, map[string]any{"response": map[string]any{"status": "200 OK"}})
		}
	}
	body, err := b.bytes()
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	return body, nil
}

func statusLine(code int) string { return itoa(int64(code)) + " " + http.StatusText(code) }
