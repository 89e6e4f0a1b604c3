package fhir

import "strings"

// IsElement reports whether element is a top-level element of the resource
// type. A choice element matches by its base name ("value") and by its JSON
// property name ("valueQuantity").
func IsElement(resourceType, element string) bool {
	return topElement(resourceType, element) != nil
}

// IsSummaryElement reports whether a top-level element of the resource type
// is part of the _summary=true view: marked isSummary in the definition,
// or mandatory (id and meta are summary elements in every resource).
func IsSummaryElement(resourceType, element string) bool {
	e := topElement(resourceType, element)
	return e != nil && (e.summary || e.min > 0)
}

func topElement(resourceType, element string) *element {
	t := load().types[resourceType]
	if t == nil || t.kind != kindResource {
		return nil
	}
	if e := t.table.byName[element]; e != nil {
		return e
	}
	if ref, ok := t.table.byKey[element]; ok {
		return ref.elem
	}
	return nil
}

// The tag the specification asks for on a resource that has been cut down
// by _summary or _elements.
const (
	subsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	subsettedCode   = "SUBSETTED"
)

// Summary returns a copy of res for _summary=true: resourceType, and the
// top-level elements IsSummaryElement reports (with their "_name"
// companions), nested values as they are; meta.tag gains SUBSETTED. res
// is not modified; nested values are shared with it.
func Summary(res map[string]any) map[string]any {
	rt, _ := res["resourceType"].(string)
	return subset(res, func(key string) bool { return IsSummaryElement(rt, key) })
}

// SelectElements returns a copy of res for _elements: resourceType, id,
// meta, the mandatory top-level elements and the listed ones (by element
// name, or for a choice by base name or JSON property name); meta.tag
// gains SUBSETTED. Unknown names are ignored. res is not modified; nested
// values are shared with it.
func SelectElements(res map[string]any, elements []string) map[string]any {
	rt, _ := res["resourceType"].(string)
	return subset(res, func(key string) bool {
		e := topElement(rt, key)
		if e == nil {
			return false
		}
		if e.min > 0 || e.name == "id" || e.name == "meta" {
			return true
		}
		for _, want := range elements {
			if want == key || (e.choice && want == e.name) {
				return true
			}
		}
		return false
	})
}

func subset(res map[string]any, keep func(key string) bool) map[string]any {
	out := make(map[string]any, len(res))
	for k, val := range res {
		name := strings.TrimPrefix(k, "_")
		if k == "resourceType" || (k != "meta" && keep(name)) {
			out[k] = val
		}
	}
	out["meta"] = withSubsettedTag(res["meta"])
	return out
}

// withSubsettedTag returns a copy of meta with the SUBSETTED tag added.
func withSubsettedTag(meta any) map[string]any {
	out := map[string]any{}
	if m, ok := meta.(map[string]any); ok {
		for k, val := range m {
			out[k] = val
		}
	}
	var tags []any
	if old, ok := out["tag"].([]any); ok {
		for _, t := range old {
			if tm, ok := t.(map[string]any); ok && tm["system"] == subsettedSystem && tm["code"] == subsettedCode {
				return out
			}
		}
		tags = append(tags, old...)
	}
	tags = append(tags, map[string]any{"system": subsettedSystem, "code": subsettedCode})
	out["tag"] = tags
	return out
}
