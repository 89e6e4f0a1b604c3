package fhirpath

import "strings"

// miniModel is a hand-written Model for a few R4 types, for unit tests and
// the fuzz target, which must not depend on the shared definitions.
func miniModel() Model { return theMiniModel }

var theMiniModel = func() *testModel {
	m := &testModel{elems: map[string]map[string]testElem{}, base: map[string]string{}}
	def := func(parent, base string, elems ...string) {
		m.base[parent] = base
		m.elems[parent] = map[string]testElem{}
		for _, e := range elems {
			name, types, _ := strings.Cut(e, ":")
			el := testElem{types: strings.Split(types, "|")}
			if n, ok := strings.CutSuffix(name, "[x]"); ok {
				name, el.choice = n, true
			}
			m.elems[parent][name] = el
		}
	}
	resource := []string{"id:id", "meta:Meta", "implicitRules:uri", "language:code"}
	domain := append(resource, "text:Narrative", "contained:Resource", "extension:Extension", "modifierExtension:Extension")
	element := []string{"id:string", "extension:Extension"}
	def("Resource", "", resource...)
	def("DomainResource", "Resource", domain...)
	def("Element", "", element...)
	def("BackboneElement", "Element", append(element, "modifierExtension:Extension")...)
	def("Patient", "DomainResource", append(domain, "identifier:Identifier", "active:boolean", "name:HumanName",
		"telecom:ContactPoint", "gender:code", "birthDate:date", "deceased[x]:boolean|dateTime",
		"multipleBirth[x]:boolean|integer", "managingOrganization:Reference", "generalPractitioner:Reference",
		"communication:Patient.communication", "contact:Patient.contact")...)
	def("Patient.communication", "BackboneElement", append(element, "language:CodeableConcept", "preferred:boolean")...)
	def("Patient.contact", "BackboneElement", append(element, "name:HumanName", "telecom:ContactPoint")...)
	def("Organization", "DomainResource", append(domain, "name:string", "identifier:Identifier")...)
	def("Practitioner", "DomainResource", append(domain, "name:HumanName")...)
	def("Observation", "DomainResource", append(domain, "status:code", "code:CodeableConcept", "subject:Reference",
		"effective[x]:dateTime|Period|instant", "value[x]:Quantity|CodeableConcept|string|boolean|integer|Range|Period",
		"component:Observation.component")...)
	def("Observation.component", "BackboneElement", append(element, "code:CodeableConcept", "value[x]:Quantity|string")...)
	def("HumanName", "Element", append(element, "use:code", "text:string", "family:string", "given:string", "period:Period")...)
	def("Period", "Element", append(element, "start:dateTime", "end:dateTime")...)
	def("Reference", "Element", append(element, "reference:string", "display:string", "identifier:Identifier")...)
	def("Identifier", "Element", append(element, "system:uri", "value:string")...)
	def("ContactPoint", "Element", append(element, "system:code", "value:string", "use:code", "rank:positiveInt")...)
	def("CodeableConcept", "Element", append(element, "coding:Coding", "text:string")...)
	def("Coding", "Element", append(element, "system:uri", "code:code", "display:string")...)
	def("Quantity", "Element", append(element, "value:decimal", "unit:string", "system:uri", "code:code")...)
	def("Age", "Quantity", append(element, "value:decimal", "unit:string", "system:uri", "code:code")...)
	def("Extension", "Element", append(element, "url:uri", "value[x]:string|integer|boolean|dateTime|Quantity|Age|CodeableConcept|Reference")...)
	def("Meta", "Element", append(element, "lastUpdated:instant", "profile:canonical")...)
	def("Narrative", "Element", append(element, "status:code", "div:xhtml")...)
	for _, p := range fhirPrimitiveTypes {
		def(p, "Element", "id:string", "extension:Extension")
	}
	for p, b := range map[string]string{"code": "string", "id": "string", "markdown": "string", "uri": "", "url": "uri",
		"canonical": "uri", "uuid": "uri", "oid": "uri", "positiveInt": "integer", "unsignedInt": "integer"} {
		if b != "" {
			m.base[p] = b
		}
	}
	return m
}()
