package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// The few FHIR R4 JSON shapes the driver reads. Everything else in a
// resource is skipped by encoding/json.

type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Response *struct {
		Status   string          `json:"status"`
		Location string          `json:"location"`
		Outcome  json.RawMessage `json:"outcome"`
	} `json:"response"`
	Search *struct {
		Mode string `json:"mode"`
	} `json:"search"`
}

// next returns the bundle's next-page link, if any.
func (b *bundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

// resourceHead is the part of every resource the driver needs.
type resourceHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

type patientResource struct {
	Name []struct {
		Family string `json:"family"`
	} `json:"name"`
	BirthDate string `json:"birthDate"`
}

type observationResource struct {
	Code          codeableConcept   `json:"code"`
	Category      []codeableConcept `json:"category"`
	ValueQuantity *struct {
		Value *float64 `json:"value"`
	} `json:"valueQuantity"`
}

// token returns the first coding as a FHIR token search value
// "system|code", or "" without one.
func (c codeableConcept) token() string {
	if len(c.Coding) == 0 || c.Coding[0].Code == "" {
		return ""
	}
	return c.Coding[0].System + "|" + c.Coding[0].Code
}

func (o *observationResource) hasCategory(code string) bool {
	for _, c := range o.Category {
		for _, cd := range c.Coding {
			if cd.Code == code {
				return true
			}
		}
	}
	return false
}

type operationOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity    string `json:"severity"`
		Code        string `json:"code"`
		Diagnostics string `json:"diagnostics"`
		Details     *struct {
			Text string `json:"text"`
		} `json:"details"`
	} `json:"issue"`
}

// firstDiagnostics returns the first issue's diagnostics (or details.text,
// or code) of an OperationOutcome, or "" when raw is not one.
func firstDiagnostics(raw []byte) string {
	var oo operationOutcome
	if len(raw) == 0 || json.Unmarshal(raw, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return ""
	}
	is := oo.Issue[0]
	switch {
	case is.Diagnostics != "":
		return shorten(is.Diagnostics, 200)
	case is.Details != nil && is.Details.Text != "":
		return shorten(is.Details.Text, 200)
	}
	return is.Code
}

// refFromLocation turns a transaction-response location ("Type/id/_history/v",
// relative or absolute, or "Type/id") into "Type/id".
func refFromLocation(loc string) (string, error) {
	p := loc
	if strings.Contains(loc, "://") {
		u, err := url.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("location %q: %w", loc, err)
		}
		p = u.Path
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	end := len(parts)
	for i, s := range parts {
		if s == "_history" {
			end = i
			break
		}
	}
	if end < 2 || parts[end-2] == "" || parts[end-1] == "" {
		return "", fmt.Errorf("location %q: want Type/id[/_history/version]", loc)
	}
	return parts[end-2] + "/" + parts[end-1], nil
}
