// Package fhir holds what Hestia knows about FHIR R4 (4.0.1) itself: the
// generic JSON model every other package works on, the official definitions
// embedded in the binary, validation, and OperationOutcome.
//
// Invariants:
//   - Parsed JSON is plain Go values (see json.go); decimals keep their
//     literal text, so a resource round-trips without losing precision.
//   - Parse never panics on untrusted input and rejects invalid UTF-8,
//     duplicate keys and nesting deeper than MaxDepth.
//   - Error messages never quote resource content: they name element paths.
//
// This package imports nothing else of Hestia's.
package fhir
