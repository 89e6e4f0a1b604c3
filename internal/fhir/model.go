package fhir

// Model returns the R4 type model that FHIRPath evaluation consumes. It
// loads the embedded definitions on first use.
func Model() *Definitions { return load() }

// Child reports the types of element name on a value of type parent.
//
// parent is a type name ("Patient", "HumanName", "string") or, for an
// inline backbone element, its path ("Patient.contact"). A choice element
// is asked for by its base name ("value") and reports every allowed type
// with choice true; its JSON property is name + the type name with the
// first letter upper-cased. Backbone elements are typed by their path,
// and contentReference elements by the path they refer to
// (Child("Questionnaire.item", "item") = ["Questionnaire.item"]). Elements
// inherited from Element, BackboneElement, Resource and DomainResource are
// reported on every type that has them.
//
// The returned slice is shared: callers MUST NOT modify it. Child does not
// allocate.
func (d *Definitions) Child(parent, name string) (types []string, choice bool, ok bool) {
	t := d.tables[parent]
	if t == nil {
		return nil, false, false
	}
	e := t.byName[name]
	if e == nil {
		return nil, false, false
	}
	return e.typeNames, e.choice, true
}

// BaseType returns the type t specialises, or "" for a root type:
// "Patient" -> "DomainResource" -> "Resource" -> ""; "code" -> "string";
// "Age" -> "Quantity"; "Patient.contact" -> "BackboneElement". It returns
// "" for an unknown name.
func (d *Definitions) BaseType(t string) string {
	if td := d.types[t]; td != nil {
		return td.base
	}
	if tb := d.tables[t]; tb != nil {
		return tb.base
	}
	return ""
}
