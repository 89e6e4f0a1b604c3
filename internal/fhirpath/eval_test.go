package fhirpath

import "testing"

func TestScopesAndSpecialVariables(t *testing.T) {
	res := mustParse(t, `{"resourceType": "Basic", "n": [1, 2, 3], "s": [{"v": 1}, {"v": 2}]}`)
	runCases(t, res, nil, []evalCase{
		{"$this.n.count()", "3"},
		{"n.select($this * 10)", "10, 20, 30"},
		{"n.select($index)", "0, 1, 2"},
		{"n.where($index > 0)", "2, 3"},
		{"s.select(v + %context.n.count())", "4, 5"},
		{"s.where(v = 2).select(%resource.n.first())", "1"},
		{"n.select(n.count())", "0, 0, 0"}, // n is looked up on each number
		{"n.aggregate($total + $this, 0)", "6"},
		{"n.select($total)", ""},
		{"n[0] + n[2]", "4"},
		{"n[-1]", ""},
		{"n[3]", ""},
		{"n['a']", "error"},
		{"n[(1|2)]", "error"},
		{"n.where(true).where($this > 1).select($index)", "0, 1"},
	})
}

func TestIdentifiersAsTypeFilters(t *testing.T) {
	obs := mustParse(t, `{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}`)
	opt := &Options{Model: miniModel()}
	runCases(t, obs, opt, []evalCase{
		{"Observation.status", "final"},
		{"Patient.name", ""},
		{"Observation.status | Patient.gender", "final"},
		{"DomainResource.status", "final"},
		{"Unknown.status", "error"}, // not a type, not an element
		{"code.CodeableConcept.text", "x"},
	})
}
