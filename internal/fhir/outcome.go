package fhir

// Issue is one problem found in a resource, shaped like an
// OperationOutcome.issue.
type Issue struct {
	Severity    string   // fatal | error | warning | information
	Code        string   // OperationOutcome issue-type code: structure, required, value, invariant, invalid, code-invalid, security, too-long, ...
	Diagnostics string   // never quotes resource content
	Expression  []string // FHIRPath locations, e.g. "Patient.name[0].given[1]"
}

// OperationOutcome returns an OperationOutcome resource in the JSON model
// listing the issues. With no issues it holds one informational issue, as
// OperationOutcome.issue requires at least one.
func OperationOutcome(issues ...Issue) map[string]any {
	list := make([]any, 0, max(len(issues), 1))
	for _, is := range issues {
		m := map[string]any{"severity": is.Severity, "code": is.Code}
		if is.Diagnostics != "" {
			m["diagnostics"] = is.Diagnostics
		}
		if len(is.Expression) > 0 {
			expr := make([]any, len(is.Expression))
			for i, e := range is.Expression {
				expr[i] = e
			}
			m["expression"] = expr
		}
		list = append(list, m)
	}
	if len(list) == 0 {
		list = append(list, map[string]any{"severity": "information", "code": "informational", "diagnostics": "no issues"})
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": list}
}

// HasErrors reports whether any issue is an error or fatal.
func HasErrors(issues []Issue) bool {
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			return true
		}
	}
	return false
}
