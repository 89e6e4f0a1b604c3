package fhirpath

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hestiahealth/hestia/internal/shareddata"
)

// testModel is a small Model for tests, read from the snapshot elements of
// the official R4 StructureDefinitions. internal/fhir has the production
// Model; this one exists so the evaluator is tested against real type
// information without importing it.
//
// Quirk handled: the R4 snapshots type Resource.id as System.String with
// fhir-type "string", but the specification (and the FHIRPath suite) says
// Resource.id is an id.
type testModel struct {
	elems map[string]map[string]testElem // parent type or backbone path -> element name
	base  map[string]string
}

type testElem struct {
	types  []string
	choice bool
}

func (m *testModel) Child(parent, name string) ([]string, bool, bool) {
	e, ok := m.elems[parent][name]
	return e.types, e.choice, ok
}

func (m *testModel) BaseType(t string) string { return m.base[t] }

var _ Model = (*testModel)(nil)

// sdBundle is the part of a definitions Bundle the test model reads.
type sdBundle struct {
	Entry []struct {
		Resource sdResource `json:"resource"`
	} `json:"entry"`
}

// sdResource is the part of a StructureDefinition the test model reads.
type sdResource struct {
	ResourceType   string `json:"resourceType"`
	Type           any    `json:"type"` // a bool in OperationDefinition
	Kind           string `json:"kind"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []struct {
			Path             string `json:"path"`
			ContentReference string `json:"contentReference"`
			Base             struct {
				Path string `json:"path"`
			} `json:"base"`
			Type []struct {
				Code      string `json:"code"`
				Extension []struct {
					URL      string `json:"url"`
					ValueURL string `json:"valueUrl"`
				} `json:"extension"`
			} `json:"type"`
		} `json:"element"`
	} `json:"snapshot"`
}

var (
	testModelOnce sync.Once
	testModelVal  *testModel
	testModelErr  error
)

// loadTestModel reads the R4 definitions once per test binary.
func loadTestModel(t testing.TB) *testModel {
	t.Helper()
	dir := shareddata.Path(t, "fhir-r4-definitions")
	testModelOnce.Do(func() {
		m := &testModel{elems: map[string]map[string]testElem{}, base: map[string]string{}}
		for _, f := range []string{"profiles-types.json", "profiles-resources.json"} {
			data, err := os.ReadFile(dir + "/" + f)
			if err != nil {
				testModelErr = err
				return
			}
			var b sdBundle
			if err := json.Unmarshal(data, &b); err != nil {
				testModelErr = err
				return
			}
			for _, e := range b.Entry {
				m.add(e.Resource)
			}
		}
		testModelVal = m
	})
	if testModelErr != nil {
		t.Fatalf("loading the test model: %v", testModelErr)
	}
	return testModelVal
}

func (m *testModel) add(sd sdResource) {
	if sd.ResourceType != "StructureDefinition" || sd.Kind == "logical" || sd.Derivation == "constraint" {
		return
	}
	typ, _ := sd.Type.(string)
	if sd.BaseDefinition != "" {
		m.base[typ] = sd.BaseDefinition[strings.LastIndexByte(sd.BaseDefinition, '/')+1:]
	}
	for _, el := range sd.Snapshot.Element {
		dot := strings.LastIndexByte(el.Path, '.')
		if dot < 0 {
			continue
		}
		parent, name := el.Path[:dot], el.Path[dot+1:]
		var e testElem
		if strings.HasSuffix(name, "[x]") {
			name, e.choice = strings.TrimSuffix(name, "[x]"), true
		}
		switch {
		case el.ContentReference != "":
			e.types = []string{strings.TrimPrefix(el.ContentReference, "#")}
		case el.Base.Path == "Resource.id":
			e.types = []string{"id"}
		default:
			for _, t := range el.Type {
				code := t.Code
				if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
					code = ""
					for _, x := range t.Extension {
						if x.URL == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type" {
							code = x.ValueURL
						}
					}
					if code == "" {
						continue
					}
				}
				if code == "Element" || code == "BackboneElement" {
					m.base[el.Path] = code
					code = el.Path
				}
				e.types = append(e.types, code)
			}
		}
		if m.elems[parent] == nil {
			m.elems[parent] = map[string]testElem{}
		}
		m.elems[parent][name] = e
	}
}

func TestTestModelDescribesR4(t *testing.T) {
	m := loadTestModel(t)
	cases := []struct {
		parent, name string
		want         []string
		choice       bool
	}{
		{"Patient", "name", []string{"HumanName"}, false},
		{"Patient", "contact", []string{"Patient.contact"}, false},
		{"Patient", "id", []string{"id"}, false},
		{"Questionnaire.item", "item", []string{"Questionnaire.item"}, false},
		{"HumanName", "given", []string{"string"}, false},
	}
	for _, c := range cases {
		got, choice, ok := m.Child(c.parent, c.name)
		if !ok || choice != c.choice || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("Child(%q, %q) = %v, %v, %v; want %v, %v", c.parent, c.name, got, choice, ok, c.want, c.choice)
		}
	}
	if got, choice, ok := m.Child("Observation", "value"); !ok || !choice || len(got) < 10 {
		t.Errorf("Child(Observation, value) = %v, %v, %v; want a choice of many types", got, choice, ok)
	}
	for typ, want := range map[string]string{"Patient": "DomainResource", "DomainResource": "Resource", "code": "string", "Age": "Quantity"} {
		if got := m.BaseType(typ); got != want {
			t.Errorf("BaseType(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestNavigationWithModel(t *testing.T) {
	res := mustParse(t, fuzzPatient)
	opt := &Options{Model: miniModel(), Now: fixedNow}
	runCases(t, res, opt, []evalCase{
		{"Patient.name.given", "Jane, <no value>"}, // the second given has only extensions
		{"Patient.name.given.count()", "2"},
		{"name.given.select($this.hasValue())", "true, false"},
		{"name.given[1].extension.url", "http://example.org/x"},
		{"name.given[1].extension('http://example.org/x').value", "x"},
		{"birthDate", "@1974-12-25"},
		{"birthDate.extension.value", "@1974-12-25T14:35:45-05:00"},
		{"deceased", "false"},
		{"deceased is boolean", "true"},
		{"multipleBirth.is(integer)", "true"},
		{"deceasedBoolean", "error"}, // choice elements are named without their type
		{"name.given1", "error"},
		{"Practitioner.name", ""}, // a type filter that does not match
		{"Resource.id", "p1"},
		{"DomainResource.contained.id", "o1"},
		{"contained.name", "Org"},
		{"contained.is(Organization)", "true"},
		{"communication.preferred", "true"},
		{"communication.type().name", "Patient.communication"},
		{"descendants().where($this is Coding).code", "en"},
		{"children().count()", "15"},
		{"telecom.rank.type().name", "positiveInt"},
		{"extension.value.is(integer)", "true"},
	})
}

func TestNavigationInfersWithoutModel(t *testing.T) {
	res := mustParse(t, fuzzPatient)
	runCases(t, res, nil, []evalCase{
		{"Patient.name.given", "Jane, <no value>"},
		{"deceased", "false"},
		{"deceased.type().name", "boolean"},
		{"deceasedBoolean", "false"},
		{"multipleBirth.type().name", "integer"},
		{"extension.value", "3"},
		{"contained.type().name", "Organization"},
		{"name.given1", ""},
		{"birthDate = @1974-12-25", "true"},
		// Untyped strings compare as strings, unless the other side is a
		// date: without a Model these are not known to be dateTimes.
		{"name.period.start < name.period.end", "true"},
		{"name.period.start.toDate() = @2001-05-06", "true"},
	})
}

func TestChildrenKeepsPrimitiveExtensionsTogether(t *testing.T) {
	res := mustParse(t, `{"resourceType":"Basic","code":"x","_code":{"id":"c1"},"_only":{"extension":[{"url":"u"}]}}`)
	runCases(t, res, nil, []evalCase{
		{"children().count()", "2"},
		{"code.id", "c1"},
		{"only.hasValue()", "false"},
		{"only.extension.url", "u"},
		{"descendants().count()", "5"},
	})
}
