// Package fhirpath evaluates FHIRPath expressions (the N1 normative
// release, http://hl7.org/fhirpath/N1/, as profiled by FHIR R4) over
// resources held in Hestia's generic JSON model: objects are
// map[string]any, arrays []any, strings string, numbers json.Number (the
// literal text), booleans bool, and primitive extensions the usual "_name"
// sibling keys.
//
// Compile an expression once and evaluate it many times:
//
//	e, err := fhirpath.Compile("Observation.subject.where(resolve() is Patient)")
//	items, err := e.Evaluate(resource, &fhirpath.Options{Model: model})
//
// # Invariants
//
//   - Compile and Evaluate never panic, whatever the expression and data.
//     Compile rejects expressions longer than maxExpressionLength (16 KiB)
//     or nested deeper than maxNesting (100). An evaluation does at most
//     maxWork (2^20) units of work (items produced, operators and
//     functions applied, comparisons, regular-expression bytes) and builds
//     strings of at most maxStringLength (1 MiB); beyond that it fails with
//     an error, so a hostile expression or a cyclic structure cannot run
//     away (about a second of CPU at worst).
//   - An *Expr is immutable and safe for concurrent use. Evaluation never
//     modifies the input, and results never alias memory owned by the Expr;
//     they do share the input's maps and strings.
//   - Decimals are exact (math/big): 0.1 + 0.2 = 0.3, and 1.50 keeps its
//     two places. System.Decimal values are json.Number holding the decimal
//     text, like FHIR decimals; System.Integer values are int64.
//   - Error messages name the expression, types and counts, never data
//     values, so they are safe to log.
//   - The package imports only the standard library.
//
// # Types
//
// Items from FHIR data carry their FHIR type ("HumanName", "code",
// "Patient.contact" for backbone elements) when a Model is given; without
// one the evaluator infers what the JSON shows: resources by resourceType,
// choice elements by a key suffix that names a FHIR data type
// (valueQuantity is a Quantity), and "" for the rest. Computed values
// carry System types ("System.Integer"). A primitive that has only
// extensions (a null with a "_name" sibling) is an item with a nil Value.
//
// Navigating with a Model to an element that no item's type defines
// (name.given1, or Observation.valueQuantity for the choice
// Observation.value) is an error, as the specification requires; a leading
// type name that does not match the input (Condition.code on an
// AllergyIntolerance) is a filter and yields empty.
//
// Comparisons convert FHIR primitives to System values: integer and
// decimal numbers to Integer and Decimal, date/dateTime/instant/time
// strings to Date/DateTime/Time, Quantity to System.Quantity (UCUM code
// when the system is UCUM). Without a Model a string's type is unknown: it
// compares as a string, or as a date when the other operand is one.
//
// # Deviations and choices
//
//   - The as operator filters a collection like ofType(), because R4 search
//     parameters write (ActivityDefinition.useContext.value as
//     CodeableConcept) over several items; the as() function raises an
//     error on more than one item, as the specification says.
//   - is follows inheritance (a code is a string, an Age a Quantity); as and
//     ofType do too except for FHIR primitive types, which must match
//     exactly (Patient.gender.as(string) is empty), as the official suite
//     expects.
//   - resolve(): contained "#id" references resolve into
//     %resource.contained; others go to Options.Resolve, or without it
//     become a stub {resourceType, id} of the type the reference names
//     ("Patient/1", absolute URLs, /_history/n), enough for
//     where(resolve() is Patient). urn: references resolve to nothing.
//   - memberOf() needs a terminology service and returns empty;
//     conformsTo() only checks the base profiles of core types
//     (http://hl7.org/fhir/StructureDefinition/T) and fails otherwise;
//     htmlChecks() is true; trace() passes its input through.
//   - Quantities compare and convert through a UCUM subset (ucum.go):
//     metric prefixes, SI base and derived units, time, volume, pressure,
//     customary length and mass. Other units compare only with themselves.
//     Calendar years and months equal each other but not UCUM a and mo.
//   - Date and time comparisons follow the spec's precision rules
//     (@2012-04 = @2012-04-15 is empty); a zone-less time compared with a
//     zoned one is decided only if every offset from -12:00 to +14:00
//     gives the same answer.
//   - Strings index and count Unicode code points. Regular expressions use
//     Go's RE2 syntax in single-line mode (no back-references or
//     look-around).
//   - sort() puts items whose key is empty first.
//
// Beyond N1 the evaluator implements the FHIRPath 2.0 additions the
// official R4 suite tests: lowBoundary, highBoundary, precision,
// comparable, sort, matchesFull, encode/decode, escape/unescape, trim,
// split, join.
package fhirpath
