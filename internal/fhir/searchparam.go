package fhir

import "slices"

// SearchParam is one official R4 SearchParameter, reduced to what a server
// needs.
type SearchParam struct {
	Code, URL, Type, Expression        string // Type: number|date|string|token|reference|quantity|uri|composite|special
	Base, Target, Modifier, Comparator []string
	MultipleOr, MultipleAnd            *bool
	Component                          []SearchComponent
}

// SearchComponent is one component of a composite search parameter.
type SearchComponent struct {
	Definition string // the URL of the component's SearchParameter
	Expression string // relative to the composite parameter's expression
}

// SearchParams returns all 1,375 official R4 search parameters in the order
// of the specification's search-parameters.json. The result is a fresh
// slice, but its elements share their slices with the package: callers
// MUST NOT modify them.
func SearchParams() []SearchParam {
	return slices.Clone(load().searchParams)
}

// SearchParamByURL returns the official search parameter with the given
// canonical URL.
func SearchParamByURL(url string) (SearchParam, bool) {
	d := load()
	i, ok := d.searchByURL[url]
	if !ok {
		return SearchParam{}, false
	}
	return d.searchParams[i], true
}

// CompartmentParams returns the search parameters that link resources of
// resourceType to a compartment ("Patient", "Encounter", "RelatedPerson",
// "Practitioner" or "Device"), as the official CompartmentDefinitions list
// them, e.g. ("Patient", "Observation") -> [subject performer]. It returns
// nil when the type is not in the compartment.
func CompartmentParams(compartment, resourceType string) []string {
	return slices.Clone(load().compartments[compartment][resourceType])
}
