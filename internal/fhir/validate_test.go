package fhir

import (
	"slices"
	"strings"
	"testing"
)

// issueKeys renders issues as "severity code path" for comparison.
func issueKeys(issues []Issue, minSeverity string) []string {
	var out []string
	for _, is := range issues {
		if minSeverity == "error" && is.Severity != "error" && is.Severity != "fatal" {
			continue
		}
		out = append(out, is.Severity+" "+is.Code+" "+strings.Join(is.Expression, ","))
	}
	slices.Sort(out)
	return out
}

type ruleCase struct {
	name string
	in   string
	want []string // "severity code path", sorted; errors only unless warnings set
}

func runRuleCases(t *testing.T, cases []ruleCase, minSeverity string) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			res := v.(map[string]any)
			got := issueKeys(Validate(res), minSeverity)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				var diag []string
				for _, is := range Validate(res) {
					diag = append(diag, is.Severity+" "+strings.Join(is.Expression, ",")+": "+is.Diagnostics)
				}
				t.Errorf("got  %q\nwant %q\n%s", got, want, strings.Join(diag, "\n"))
			}
		})
	}
}

func TestValidateStructure(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"minimal patient", `{"resourceType":"Patient"}`, nil},
		{"no resourceType", `{"id":"x","resourceType":1}`, []string{"error structure Resource"}},
		{"unknown resource type", `{"resourceType":"Patientx"}`, []string{"error structure Resource"}},
		{"abstract resource type", `{"resourceType":"DomainResource"}`, []string{"error structure Resource"}},
		{"unknown property", `{"resourceType":"Patient","unknownElement":1}`, []string{"error structure Patient.unknownElement"}},
		{"fhir_comments", `{"resourceType":"Patient","fhir_comments":["x"]}`, []string{"error structure Patient.fhir_comments"}},
		{"unknown nested property", `{"resourceType":"Patient","name":[{"family":"F","first":"x"}]}`, []string{"error structure Patient.name[0].first"}},
		{"odd property name is not echoed", `{"resourceType":"Patient","John Smith 1970":1}`, []string{"error structure Patient.(property)"}},
		{"resourceType inside a data type", `{"resourceType":"Patient","name":[{"resourceType":"HumanName"}]}`, []string{"error structure Patient.name[0].resourceType"}},
		{"missing required", `{"resourceType":"Observation","status":"final"}`, []string{"error required Observation.code"}},
		{"missing required in backbone", `{"resourceType":"Patient","link":[{"type":"seealso"}]}`, []string{"error required Patient.link[0].other"}},
		{"required satisfied by extension only", `{"resourceType":"Observation","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"code":{"text":"x"}}`, nil},
		{"array expected", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"reasonCode":{"text":"x"}}`, []string{"error structure Encounter.reasonCode"}},
		{"single value expected", `{"resourceType":"Patient","gender":["male"]}`, []string{"error structure Patient.gender"}},
		{"single object expected", `{"resourceType":"Patient","maritalStatus":[{"text":"x"}]}`, []string{"error structure Patient.maritalStatus"}},
		{"empty array", `{"resourceType":"Patient","name":[]}`, []string{"error structure Patient.name"}},
		{"empty nested array", `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"url":"http://x"}}],"category":[{"coding":[]}]}`, []string{"error structure DocumentReference.category[0].coding"}},
		{"empty object", `{"resourceType":"Patient","maritalStatus":{}}`, []string{"error structure Patient.maritalStatus"}},
		{"object with only an id", `{"resourceType":"Patient","maritalStatus":{"id":"a"}}`, []string{"error invariant Patient.maritalStatus"}},
		{"null value", `{"resourceType":"Patient","gender":null}`, []string{"error structure Patient.gender"}},
		{"null in array", `{"resourceType":"Patient","name":[null]}`, []string{"error structure Patient.name[0]"}},
		{"null in primitive array without extension", `{"resourceType":"Patient","name":[{"given":["a",null]}]}`, []string{"error structure Patient.name[0].given[1]"}},
		{"empty string", `{"resourceType":"Patient","gender":""}`, []string{"error value Patient.gender"}},
		{"primitive as object", `{"resourceType":"Patient","birthDate":{"value":"1970"}}`, []string{"error structure Patient.birthDate"}},
		{"string as number", `{"resourceType":"Patient","active":"true"}`, []string{"error structure Patient.active"}},
		{"integer as string", `{"resourceType":"Patient","multipleBirthInteger":"2"}`, []string{"error structure Patient.multipleBirth.ofType(integer)"}},
		{"two choice values", `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`, []string{"error structure Patient.deceased"}},
		{"choice of a type not allowed", `{"resourceType":"Patient","deceasedString":"yes"}`, []string{"error structure Patient.deceasedString"}},
		{"choice base name is not a property", `{"resourceType":"Patient","deceased":true}`, []string{"error structure Patient.deceased"}},
		{"choice path", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1"}}`, []string{"error structure Observation.value.ofType(Quantity).value"}},
		{"too many values in backbone", `{"resourceType":"Patient","contact":[{"name":[{"text":"x"}]}]}`, []string{"error structure Patient.contact[0].name"}},
	}, "error")
}

func TestValidatePrimitiveExtensions(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"extension on a primitive", `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[{"url":"http://example.org/x","valueString":"y"}]}}`, nil},
		{"extension without a value", `{"resourceType":"Patient","_birthDate":{"id":"b1","extension":[{"url":"http://example.org/x","valueString":"y"}]}}`, nil},
		{"aligned arrays", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://example.org/x","valueCode":"c"}]}]}]}`, nil},
		{"misaligned arrays", `{"resourceType":"Patient","name":[{"given":["a"],"_given":[{"id":"test"},null]}]}`, []string{"error structure Patient.name[0].given"}},
		{"both null", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,null]}]}`, []string{"error structure Patient.name[0].given[1]"}},
		{"value inside the companion", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"_valueInteger":{"value":0}}`, []string{"error structure Observation.value.ofType(integer).value"}},
		{"empty companion", `{"resourceType":"Patient","_birthDate":{}}`, []string{"error structure Patient.birthDate"}},
		{"companion of a complex element", `{"resourceType":"Patient","_name":[{"id":"x"}]}`, []string{"error structure Patient._name"}},
		{"extension on Resource.id", `{"resourceType":"Patient","id":"pat-good","_id":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"masked"}]}}`, []string{"error structure Patient.id"}},
		{"bad extension in companion", `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[{"valueString":"y"}]}}`, []string{"error required Patient.birthDate.extension[0].url"}},
	}, "error")
}

func TestValidateExtensions(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"unknown extension url is fine", `{"resourceType":"Patient","extension":[{"url":"http://example.org/unknown","valueString":"x"}]}`, nil},
		{"nested extensions", `{"resourceType":"Patient","extension":[{"url":"http://example.org/race","extension":[{"url":"text","valueString":"x"}]}]}`, nil},
		{"missing url", `{"resourceType":"Patient","extension":[{"valueString":"x"}]}`, []string{"error required Patient.extension[0].url"}},
		{"versioned url", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-congregation|4.0.0","valueString":"x"}]}`, []string{"error value Patient.extension[0].url"}},
		{"value and extensions", `{"resourceType":"Patient","extension":[{"url":"http://example.org/a","valueString":"x","extension":[{"url":"b","valueString":"y"}]}]}`, []string{"error invariant Patient.extension[0]"}},
		{"neither value nor extensions", `{"resourceType":"Patient","extension":[{"url":"http://example.org/a"}]}`, []string{"error invariant Patient.extension[0]"}},
		{"value of a type not allowed", `{"resourceType":"Patient","extension":[{"url":"http://example.org/a","valueNarrative":{"status":"empty"}}]}`, []string{"error structure Patient.extension[0].valueNarrative"}},
		{"bad value inside", `{"resourceType":"Patient","extension":[{"url":"http://example.org/a","valueDate":"1970-13"}]}`, []string{"error value Patient.extension[0].value.ofType(date)"}},
		{"modifier extension", `{"resourceType":"Patient","modifierExtension":[{"url":"http://example.org/a","valueBoolean":true}],"contact":[{"modifierExtension":[{"url":"x"}]}]}`, []string{"error invariant Patient.contact[0].modifierExtension[0]"}},
		{"extension object instead of array", `{"resourceType":"Patient","extension":{"url":"http://example.org/a","valueString":"x"}}`, []string{"error structure Patient.extension"}},
	}, "error")
}

func TestValidatePrimitiveFormats(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"bad date", `{"resourceType":"Patient","birthDate":"not a date"}`, []string{"error value Patient.birthDate"}},
		{"impossible date", `{"resourceType":"Patient","birthDate":"2019-02-29"}`, []string{"error value Patient.birthDate"}},
		{"leap day", `{"resourceType":"Patient","birthDate":"2020-02-29"}`, nil},
		{"dateTime without timezone", `{"resourceType":"MedicationRequest","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"medicationCodeableConcept":{"text":"x"},"authoredOn":"2020-11-11T10:58:14.768528"}`, []string{"error value MedicationRequest.authoredOn"}},
		{"dateTime partial", `{"resourceType":"Patient","deceasedDateTime":"2020-11"}`, nil},
		{"instant needs seconds and zone", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01T10:00Z"}}`, []string{"error value Patient.meta.lastUpdated"}},
		{"instant ok", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01T10:00:00.123+14:00"}}`, nil},
		{"time", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"25:00:00"}`, []string{"error value Observation.value.ofType(time)"}},
		{"bad id", `{"resourceType":"Patient","id":"bad_id"}`, []string{"error value Patient.id"}},
		{"long id", `{"resourceType":"Patient","id":"` + strings.Repeat("a", 65) + `"}`, []string{"error value Patient.id"}},
		{"element id is a string", `{"resourceType":"Patient","name":[{"id":"/foobar==","text":"x"}]}`, nil},
		{"decimal", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50e3}}`, nil},
		{"integer with fraction", `{"resourceType":"Patient","multipleBirthInteger":1.0}`, []string{"error value Patient.multipleBirth.ofType(integer)"}},
		{"integer too large", `{"resourceType":"Patient","multipleBirthInteger":2147483648}`, []string{"error value Patient.multipleBirth.ofType(integer)"}},
		{"positiveInt zero", `{"resourceType":"Claim","status":"active","type":{"text":"x"},"use":"claim","patient":{"reference":"Patient/1"},"created":"2020","provider":{"reference":"Organization/1"},"priority":{"text":"x"},"insurance":[{"sequence":0,"focal":true,"coverage":{"reference":"Coverage/1"}}]}`, []string{"error value Claim.insurance[0].sequence"}},
		{"unsignedInt negative", `{"resourceType":"Media","status":"completed","content":{"url":"http://x","size":-1}}`, []string{"error value Media.content.size"}},
		{"code with double space", `{"resourceType":"Patient","gender":"ma  le"}`, []string{"error value Patient.gender"}},
		{"uri with space", `{"resourceType":"Patient","identifier":[{"system":"http://x y","value":"1"}]}`, []string{"error value Patient.identifier[0].system"}},
		{"oid", `{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3","value":"1"}]}`, nil},
		{"uuid in an oid", `{"resourceType":"Patient","extension":[{"url":"http://example.org/a","valueOid":"urn:oid:1.02"}]}`, []string{"error value Patient.extension[0].value.ofType(oid)"}},
		{"uuid", `{"resourceType":"Patient","extension":[{"url":"http://example.org/a","valueUuid":"urn:uuid:C4E0E2F2-0000-0000-0000-000000000000"}]}`, []string{"error value Patient.extension[0].value.ofType(uuid)"}},
		{"base64", `{"resourceType":"Binary","contentType":"text/plain","data":"%%%2@()()"}`, []string{"error value Binary.data"}},
		{"base64 padding", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}`, nil},
		{"string with form feed", "{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"a\\fb\"}]}", []string{"error value Patient.name[0].text"}},
		{"string too long", `{"resourceType":"Patient","name":[{"text":"` + strings.Repeat("a", maxStringBytes+1) + `"}]}`, []string{"error too-long Patient.name[0].text"}},
		{"element id too long", `{"resourceType":"Location","position":{"id":"` + strings.Repeat("a", maxStringBytes+1) + `","longitude":1,"latitude":1}}`, []string{"error too-long Location.position.id"}},
		{"html in a string", `{"resourceType":"Patient","name":[{"text":"Standard <script>somescript</script>"}]}`, []string{"error security Patient.name[0].text"}},
		{"less-than in a string", `{"resourceType":"Patient","name":[{"text":"a < b and c > d, <5 mg>"}]}`, nil},
		{"html in markdown is allowed", `{"resourceType":"Communication","status":"completed","note":[{"text":"<resource type>\\<id>"}]}`, nil},
	}, "error")
}

func TestValidateBindings(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"code in value set", `{"resourceType":"Patient","gender":"female"}`, nil},
		{"code not in value set", `{"resourceType":"Patient","gender":"F"}`, []string{"error code-invalid Patient.gender"}},
		{"encounter status", `{"resourceType":"Encounter","status":"completed","class":{"code":"AMB"}}`, []string{"error code-invalid Encounter.status"}},
		{"nested code", `{"resourceType":"Patient","telecom":[{"system":"fax","value":"1","use":"mobile"},{"system":"pager2","value":"2"}]}`, []string{"error code-invalid Patient.telecom[1].system"}},
		{"not enumerable value set", `{"resourceType":"Binary","contentType":"application/x-anything"}`, nil},
		{"codeable concept, matching system", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"gone"}]}}`, []string{"error code-invalid AllergyIntolerance.clinicalStatus.coding[0].code"}},
		{"codeable concept, other system", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://example.org/local","code":"gone"}]}}`, nil},
		{"relative coding system", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"local","code":"M"}]}}`, []string{"error value Patient.maritalStatus.coding[0].system"}},
		{"value set as coding system", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://hl7.org/fhir/ValueSet/marital-status","code":"M"}]}}`, []string{"error value Patient.maritalStatus.coding[0].system"}},
	}, "error")
}

func TestValidateReferences(t *testing.T) {
	obs := func(ref string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"` + ref + `"}}`
	}
	runRuleCases(t, []ruleCase{
		{"relative", obs("Patient/123"), nil},
		{"versioned", obs("Patient/123/_history/2"), nil},
		{"absolute", obs("http://example.org/fhir/Patient/123"), nil},
		{"urn:uuid", obs("urn:uuid:d67a0cff-8f7e-46f7-bb99-577a6623e59a"), nil},
		{"conditional", obs("Patient?identifier=http://x|1"), nil},
		{"unknown type", obs("Patients/123"), []string{"error value Observation.subject.reference"}},
		{"bad id", obs("Patient/bad_id"), []string{"error value Observation.subject.reference"}},
		{"no type", obs("denom-EXM104"), []string{"error value Observation.subject.reference"}},
		{"white space", obs("Patient/1 2"), []string{"error value Observation.subject.reference"}},
		{"local without contained", obs("#p1"), []string{"error invariant Observation.subject.reference"}},
		{"local to contained", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"#p1"},"contained":[{"resourceType":"Patient","id":"p1"}]}`, nil},
		{"contained refers to container", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Provenance","id":"p","target":[{"reference":"#"}],"recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]}]}`, nil},
		{"container refers to itself", obs("#"), []string{"error invariant Observation.subject.reference"}},
		{"local canonical", `{"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"q1","type":"choice","answerValueSet":"#vs"}],"contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}]}`, nil},
	}, "error")
	runRuleCases(t, []ruleCase{
		{"target type not allowed", obs("Medication/1"), []string{"warning value Observation.subject.reference"}},
		{"absolute target type not allowed", obs("http://example.org/fhir/Medication/1"), []string{"warning value Observation.subject.reference"}},
		{"any target", `{"resourceType":"Provenance","target":[{"reference":"Medication/1"}],"recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]}`, nil},
	}, "warning")
}

func TestValidateContained(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"bad contained id", `{"resourceType":"Location","contained":[{"resourceType":"Organization","id":"org_1"}],"managingOrganization":{"reference":"#org_1"}}`, []string{"error value Location.contained[0].ofType(Organization).id"}},
		{"not referenced", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"contained":[{"resourceType":"Practitioner","id":"p"}]}`, []string{"error invariant Condition.contained[0]"}},
		{"no id", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"contained":[{"resourceType":"Practitioner"}]}`, []string{"error invariant Condition.contained[0].ofType(Practitioner)"}},
		{"nested contained", `{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","contained":[{"resourceType":"Practitioner","id":"q"}],"generalPractitioner":[{"reference":"#q"}]}]}`, []string{"error invariant Condition.contained[0].ofType(Patient).contained", "error invariant Condition.contained[0].ofType(Patient).generalPractitioner[0].reference"}},
		{"versioned contained", `{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"versionId":"1"}}]}`, []string{"error invariant Condition.contained[0].ofType(Patient).meta"}},
		{"security label on contained", `{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","meta":{"security":[{"code":"R"}]}}]}`, []string{"error invariant Condition.contained[0].ofType(Patient).meta"}},
		{"duplicate contained ids", `{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"},{"resourceType":"Patient","id":"p"}]}`, []string{"error invariant Condition.contained[1]"}},
		{"contained refers to sibling", `{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","generalPractitioner":[{"reference":"#q"}]},{"resourceType":"Practitioner","id":"q"}]}`, nil},
		{"contained validated", `{"resourceType":"Condition","subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","birthDate":"1970-02-30"}]}`, []string{"error value Condition.contained[0].ofType(Patient).birthDate"}},
		{"contained not a resource", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"contained":[{"id":"p"}]}`, []string{"error structure Condition.contained[0]"}},
	}, "error")
}

func TestValidateInvariants(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"period ok", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-01-01T10:00:00+01:00","end":"2020-01-01T09:30:00Z"}}`, nil},
		{"period reversed", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-01-02","end":"2020-01-01"}}`, []string{"error invariant Encounter.period"}},
		{"period reversed across zones", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"period":{"start":"2020-01-01T10:00:00-05:00","end":"2020-01-01T14:00:00Z"}}`, []string{"error invariant Encounter.period"}},
		{"period incomparable", `{"resourceType":"Encounter","status":"unknown","class":{"code":"1"},"period":{"start":"2023-06-21","end":"2023-06-21T06:20:00Z"}}`, []string{"error invariant Encounter.period"}},
		{"period different days, different precision", `{"resourceType":"Encounter","status":"unknown","class":{"code":"1"},"period":{"start":"2023-06-21","end":"2023-06-22T06:20:00Z"}}`, nil},
		{"probability", `{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/1625"},"prediction":[{"probabilityDecimal":101}]}`, []string{"error invariant RiskAssessment.prediction[0].probability"}},
		{"quantity code without system", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg"}}`, []string{"error invariant Observation.value.ofType(Quantity)"}},
		{"simple quantity comparator", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"referenceRange":[{"low":{"value":1,"comparator":"<"}}]}`, []string{"error invariant Observation.referenceRange[0].low.comparator"}},
		{"attachment size", `{"resourceType":"Media","status":"completed","content":{"contentType":"application/octet-stream","data":"aGVscCBpJ20gYSBidWc=","size":100}}`, []string{"error value Media.content.size"}},
		{"attachment size ok", `{"resourceType":"Media","status":"completed","content":{"contentType":"application/octet-stream","data":"aGVscCBpJ20gYSBidWc=","size":14}}`, nil},
		{"attachment without content type", `{"resourceType":"Media","status":"completed","content":{"data":"aGVsbG8="}}`, []string{"error invariant Media.content"}},
	}, "error")
}

func TestValidateNarrative(t *testing.T) {
	pat := func(div string) string {
		return `{"resourceType":"Patient","text":{"status":"generated","div":"` + strings.ReplaceAll(div, `"`, `\"`) + `"}}`
	}
	runRuleCases(t, []ruleCase{
		{"basic", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><p>Hello <b>world</b> <a href="http://x">l</a><img src="#a" alt="x"/></p><table><tr><td colspan="2">1</td></tr></table></div>`), nil},
		{"entities", pat(`<div xmlns="http://www.w3.org/1999/xhtml">&lt;&amp;&#160;&#xA0;</div>`), nil},
		{"html entity", pat(`<div xmlns="http://www.w3.org/1999/xhtml">&reg;</div>`), []string{"error invalid Patient.text.div"}},
		{"script", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>`), []string{"error security Patient.text.div"}},
		{"event handler", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="alert(1)">x</p></div>`), []string{"error security Patient.text.div"}},
		{"javascript url", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><a href=" JavaScript:alert(1)">x</a></div>`), []string{"error security Patient.text.div"}},
		{"iframe", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><iframe src="http://x"/></div>`), []string{"error security Patient.text.div"}},
		{"style url", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><p style="background:url(http://x)">x</p></div>`), []string{"error security Patient.text.div"}},
		{"no namespace", pat(`<div>x</div>`), []string{"error invalid Patient.text.div"}},
		{"not a div", pat(`<p xmlns="http://www.w3.org/1999/xhtml">x</p>`), []string{"error invalid Patient.text.div"}},
		{"two roots", pat(`<div xmlns="http://www.w3.org/1999/xhtml">x</div><div xmlns="http://www.w3.org/1999/xhtml">y</div>`), []string{"error invalid Patient.text.div"}},
		{"mismatched tags", pat(`<div xmlns="http://www.w3.org/1999/xhtml"><p>x</b></div>`), []string{"error invalid Patient.text.div"}},
		{"doctype", pat(`<!DOCTYPE html><div xmlns="http://www.w3.org/1999/xhtml">x</div>`), []string{"error security Patient.text.div"}},
		{"not xml", pat(`<div xmlns="http://www.w3.org/1999/xhtml">x`), []string{"error invalid Patient.text.div"}},
	}, "error")
	runRuleCases(t, []ruleCase{
		{"empty narrative warns", pat(`<div xmlns="http://www.w3.org/1999/xhtml">  </div>`), []string{"warning invariant Patient.text.div"}},
	}, "warning")
}

func TestValidateBundles(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"transaction", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:d67a0cff-8f7e-46f7-bb99-577a6623e59a","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`, nil},
		{"entry resource validated", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","birthDate":"x"}}]}`, []string{"error value Bundle.entry[0].resource.ofType(Patient).birthDate"}},
		{"relative fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, []string{"error value Bundle.entry[0].fullUrl"}},
		{"bad uuid fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"}}]}`, []string{"error value Bundle.entry[0].fullUrl"}},
		{"versioned fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/Patient/1/_history/1","resource":{"resourceType":"Patient","id":"1"}}]}`, []string{"error invariant Bundle.entry[0].fullUrl"}},
		{"fullUrl type mismatch", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Practitioner","id":"1"}}]}`, []string{"error value Bundle.entry[0].fullUrl"}},
		{"duplicate fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1"}},{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, []string{"error invariant Bundle.entry[1].fullUrl"}},
		{"duplicate fullUrl, other versions", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1","meta":{"versionId":"1"}}},{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1","meta":{"versionId":"2"}}}]}`, nil},
		{"request outside a transaction", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`, []string{"error invariant Bundle.entry[0].request"}},
		{"transaction without request", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]}`, []string{"error invariant Bundle.entry[0].request"}},
		{"empty entry", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/Patient/1"}]}`, []string{"error invariant Bundle.entry[0]"}},
		{"total outside a search", `{"resourceType":"Bundle","type":"collection","total":1}`, []string{"error invariant Bundle.total"}},
		{"search match without id", `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://x/y","resource":{"resourceType":"Patient"},"search":{"mode":"match"}}]}`, []string{"error invariant Bundle.entry[0].resource"}},
		{"duplicate self link", `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"http://x"},{"relation":"self","url":"http://y"}]}`, []string{"error invariant Bundle.link[1]"}},
		{"document without composition", `{"resourceType":"Bundle","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:d67a0cff-8f7e-46f7-bb99-577a6623e59a"},"timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, []string{"error invariant Bundle.entry[0]"}},
		{"document without identifier and timestamp", `{"resourceType":"Bundle","type":"document","entry":[{"fullUrl":"http://x/Composition/1","resource":{"resourceType":"Composition","id":"1","status":"final","type":{"text":"x"},"date":"2020","author":[{"display":"x"}],"title":"t"}}]}`, []string{"error invariant Bundle.identifier", "error invariant Bundle.timestamp"}},
		{"document reference outside the bundle", `{"resourceType":"Bundle","type":"document","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:d67a0cff-8f7e-46f7-bb99-577a6623e59a"},"timestamp":"2020-01-01T00:00:00Z","entry":[{"fullUrl":"http://x/Composition/1","resource":{"resourceType":"Composition","id":"1","status":"final","type":{"text":"x"},"date":"2020","author":[{"reference":"Practitioner/1"}],"title":"t","subject":{"reference":"Patient/1"}}},{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, []string{"error not-found Bundle.entry[0].resource.ofType(Composition).author[0]"}},
		{"message without header", `{"resourceType":"Bundle","type":"message","entry":[{"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, []string{"error invariant Bundle.entry[0]"}},
		{"nested bundle", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"x","resource":{"resourceType":"Patient"}}]}}]}`, []string{"error value Bundle.entry[0].resource.ofType(Bundle).entry[0].fullUrl"}},
		{"parameters resource", `{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","gender":"x"}}]}`, []string{"error code-invalid Parameters.parameter[0].resource.ofType(Patient).gender"}},
	}, "error")
}

func TestValidateReportsEveryIssue(t *testing.T) {
	res := mustParseResource(t, `{"resourceType":"Patient","id":"a_b","birthDate":"x","gender":"F","name":[],"foo":1}`)
	got := issueKeys(Validate(res), "error")
	want := []string{"error code-invalid Patient.gender", "error structure Patient.foo", "error structure Patient.name", "error value Patient.birthDate", "error value Patient.id"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestValidateDiagnosticsNeverQuoteValues(t *testing.T) {
	secret := "Zebulon-Quixote-1234"
	in := `{"resourceType":"Patient","id":"` + secret + `_","birthDate":"` + secret + `","gender":"` + secret + `",
		"name":[{"text":"<b>` + secret + `</b>"}],"telecom":[{"system":"` + secret + `"}],
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><` + secret + `/></div>"},
		"managingOrganization":{"reference":"` + secret + `"},"generalPractitioner":[{"reference":"#` + secret + `"}],
		"photo":[{"contentType":"x","data":"` + secret + `"}],"extension":[{"url":"` + secret + `|1","valueString":"x"}]}`
	res := mustParseResource(t, in)
	issues := Validate(res)
	if len(issues) < 8 {
		t.Fatalf("only %d issues", len(issues))
	}
	for _, is := range issues {
		if strings.Contains(is.Diagnostics, secret) || strings.Contains(strings.Join(is.Expression, ""), secret) {
			t.Errorf("issue quotes the value: %+v", is)
		}
	}
}

// TestValidateIsDeterministic checks that issues come in the same order
// every time, although Go randomises map iteration.
func TestValidateIsDeterministic(t *testing.T) {
	res := mustParseResource(t, `{"resourceType":"Patient","id":"a_b","birthDate":"x","gender":"F","name":[],"foo":1,"bar":2,"deceasedBoolean":true,"deceasedDateTime":"x","telecom":[{"system":"x","use":"y","zz":1}]}`)
	raw := func() []string {
		var out []string
		for _, is := range Validate(res) {
			out = append(out, is.Severity+" "+is.Code+" "+strings.Join(is.Expression, ","))
		}
		return out
	}
	first := raw()
	for range 50 {
		if got := raw(); !slices.Equal(got, first) {
			t.Fatalf("order changed:\n%q\n%q", got, first)
		}
	}
}

func TestOperationOutcome(t *testing.T) {
	oo := OperationOutcome(Issue{Severity: "error", Code: "value", Diagnostics: "invalid date format", Expression: []string{"Patient.birthDate"}})
	if issues := Validate(oo); HasErrors(issues) {
		t.Fatalf("OperationOutcome is invalid: %+v", issues)
	}
	out, _ := Marshal(oo)
	want := `{"resourceType":"OperationOutcome","issue":[{"code":"value","diagnostics":"invalid date format","expression":["Patient.birthDate"],"severity":"error"}]}`
	if string(out) != want {
		t.Fatalf("got %s", out)
	}
	empty := OperationOutcome()
	if issues := Validate(empty); HasErrors(issues) {
		t.Fatalf("empty OperationOutcome is invalid: %+v", issues)
	}
	if HasErrors([]Issue{{Severity: "warning"}, {Severity: "information"}}) || !HasErrors([]Issue{{Severity: "fatal"}}) {
		t.Fatal("HasErrors")
	}
}

func TestValidateIsSafeForConcurrentUse(t *testing.T) {
	inputs := []map[string]any{
		mustParseResource(t, `{"resourceType":"Patient","id":"a_b","birthDate":"x","contained":[{"resourceType":"Patient","id":"p"}]}`),
		mustParseResource(t, `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"Patient/1","resource":{"resourceType":"Patient","gender":"F"}}]}`),
		mustParseResource(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"#p"}}`),
	}
	want := make([][]string, len(inputs))
	for i, in := range inputs {
		want[i] = issueKeys(Validate(in), "")
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for n := range 200 {
				i := (g + n) % len(inputs)
				if got := issueKeys(Validate(inputs[i]), ""); !slices.Equal(got, want[i]) {
					done <- &mismatch{got, want[i]}
					return
				}
				Model().Child("Patient.contact", "name")
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

type mismatch struct{ got, want []string }

func (m *mismatch) Error() string {
	return "got " + strings.Join(m.got, "; ") + ", want " + strings.Join(m.want, "; ")
}
