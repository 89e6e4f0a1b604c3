package rest

import (
	"net/url"
	"strings"

	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// shape applies _summary and _elements to a stored resource body. Without
// them the stored bytes are sent as they are.
func shape(body []byte, q url.Values) ([]byte, error) {
	summary, elements := q.Get("_summary"), q.Get("_elements")
	if summary == "" && elements == "" || summary == "false" {
		return body, nil
	}
	res, err := fhir.ParseResource(body)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "stored resource unreadable")
	}
	out, err := shapeResource(res, summary, splitElements(elements))
	if err != nil {
		return nil, err
	}
	b, err := fhir.Marshal(out)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	return b, nil
}

func splitElements(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// shapeResource applies _summary (true, text, data) or _elements.
func shapeResource(res map[string]any, summary string, elements []string) (map[string]any, error) {
	switch summary {
	case "", "false":
	case "true":
		return fhir.Summary(res), nil
	case "text":
		out := map[string]any{"resourceType": res["resourceType"]}
		for _, k := range []string{"id", "meta", "text"} {
			if v, ok := res[k]; ok {
				out[k] = v
			}
		}
		markSubsetted(out)
		return out, nil
	case "data":
		out := make(map[string]any, len(res))
		for k, v := range res {
			if k != "text" {
				out[k] = v
			}
		}
		markSubsetted(out)
		return out, nil
	case "count":
		return res, nil
	default:
		return nil, fault.New(fault.Invalid, "_summary must be true, false, text, data or count")
	}
	if len(elements) > 0 {
		return fhir.SelectElements(res, elements), nil
	}
	return res, nil
}

// markSubsetted adds the SUBSETTED tag that a partial resource must carry.
func markSubsetted(res map[string]any) {
	meta, _ := res["meta"].(map[string]any)
	m := make(map[string]any, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	tags, _ := m["tag"].([]any)
	m["tag"] = append(append([]any(nil), tags...), map[string]any{
		"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
	})
	res["meta"] = m
}
