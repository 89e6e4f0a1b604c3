package fhir

import "slices"

// Constraint is one invariant of a StructureDefinition, for a layer that
// can evaluate FHIRPath (this package does not).
type Constraint struct {
	Key        string // e.g. "per-1"
	Severity   string // error | warning
	Human      string
	Expression string // FHIRPath, evaluated on each occurrence of Path
	Path       string // the element it applies to, e.g. "Period" or "Patient.contact"
	Native     bool   // Validate checks it itself: a FHIRPath layer may skip it
}

// Constraints returns the invariants declared in the snapshot of a type
// (resource, complex or primitive type), in definition order: those on the
// type itself and on its inline elements. For a resource this includes the
// inherited dom-* invariants. Invariants of the data types an element uses
// are listed under the data type (per-1 under "Period"). ele-1 (every
// element has a value or children) is left out: Validate checks it
// structurally. ext-1 is listed once, under "Extension".
//
// Validate checks the invariants marked Native itself; the others are for
// a higher layer to evaluate.
func Constraints(typeName string) []Constraint {
	t := load().types[typeName]
	if t == nil {
		return nil
	}
	return slices.Clone(t.constraints)
}
