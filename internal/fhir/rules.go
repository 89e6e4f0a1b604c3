package fhir

import (
	"encoding/json"
	"strings"
)

// typeRules applies the rules of a data type (and of some backbone
// elements) that the element tables cannot express. m has been validated
// structurally; the current path names it.
func (v *validator) typeRules(e *element, et *elemType, m map[string]any) {
	switch et.code {
	case "Extension":
		v.extension(m)
	case "Reference":
		if ref, ok := m["reference"].(string); ok && ref != "" {
			v.push("reference", -1)
			v.reference(ref, et.targets)
			v.pop()
		}
	case "Period":
		v.period(m)
	case "Coding":
		v.codingSystem(m)
		if e.binding != nil && e.binding.codes != nil {
			v.coding(e.binding, m)
		}
	case "CodeableConcept":
		if e.binding != nil && e.binding.codes != nil {
			if list, ok := m["coding"].([]any); ok {
				v.push("coding", -1)
				for i, c := range list {
					if cm, ok := c.(map[string]any); ok {
						v.setIndex(i)
						v.coding(e.binding, cm)
					}
				}
				v.pop()
			}
		}
	case "Quantity", "Age", "Count", "Distance", "Duration":
		if _, ok := m["code"]; ok {
			if _, ok := m["system"]; !ok {
				v.errorf("invariant", "qty-3: a quantity with a unit code must have a system")
			}
		}
		if et.profile == "SimpleQuantity" {
			if _, ok := m["comparator"]; ok {
				v.errorAtChild("comparator", -1, "invariant", "sqty-1: a SimpleQuantity must not have a comparator")
			}
		}
	case "Attachment":
		v.attachment(m)
	case "RiskAssessment.prediction":
		v.riskPrediction(m)
	}
}

// extension checks an Extension beyond its table: the url is present (the
// table requires it) and unversioned, and ext-1: a value or nested
// extensions, not both. Extensions with unknown URLs are accepted.
func (v *validator) extension(m map[string]any) {
	if url, ok := m["url"].(string); ok && strings.Contains(url, "|") {
		v.errorAtChild("url", -1, "value", "an extension URL must not carry a version")
	}
	_, hasExt := m["extension"]
	hasValue := false
	for k := range m {
		if strings.HasPrefix(k, "value") {
			hasValue = true
			break
		}
	}
	if hasExt == hasValue {
		v.errorf("invariant", "ext-1: an extension must have either nested extensions or a value[x], not both")
	}
}

// codingSystem checks that Coding.system is an absolute URI naming a code
// system, not a value set.
func (v *validator) codingSystem(m map[string]any) {
	system, ok := m["system"].(string)
	if !ok || system == "" {
		return
	}
	switch {
	case !hasScheme(system):
		v.errorAtChild("system", -1, "value", "Coding.system must be an absolute URI")
	case strings.HasPrefix(system, "http://hl7.org/fhir/ValueSet/"):
		v.errorAtChild("system", -1, "value", "Coding.system names a value set, not a code system")
	}
}

// coding checks a Coding against a required, enumerated value set when its
// system is one the value set uses.
func (v *validator) coding(b *valueSet, m map[string]any) {
	system, _ := m["system"].(string)
	code, hasCode := m["code"].(string)
	if !hasCode || !b.systems[system] {
		return
	}
	if !b.pairs[[2]string{system, code}] {
		v.errorAtChild("code", -1, "code-invalid", "code is not in the required value set "+b.url)
	}
}

// period checks per-1: start <= end when both are present.
func (v *validator) period(m map[string]any) {
	start, ok1 := m["start"].(string)
	end, ok2 := m["end"].(string)
	if !ok1 || !ok2 || !validDateTime(start) || !validDateTime(end) {
		return
	}
	if c, ok := compareDateTime(start, end); !ok || c > 0 {
		v.errorf("invariant", "per-1: start must not be after end (and both must be comparable)")
	}
}

// attachment checks att-1 (data needs a contentType) and that a stated size
// matches the data.
func (v *validator) attachment(m map[string]any) {
	data, hasData := m["data"].(string)
	if !hasData {
		return
	}
	if _, ok := m["contentType"]; !ok {
		v.errorf("invariant", "att-1: an attachment with data must have a contentType")
	}
	if sz, ok := m["size"]; ok && validBase64(data) {
		if lit, ok := numberText(sz); ok {
			if n, ok := parseInt32(lit); ok && int(n) != base64Len(data) {
				v.errorAtChild("size", -1, "value", "the stated size does not match the size of the data")
			}
		}
	}
}

// riskPrediction checks ras-2: probabilityDecimal <= 100.
func (v *validator) riskPrediction(m map[string]any) {
	p, ok := m["probabilityDecimal"].(json.Number)
	if !ok {
		return
	}
	if f, err := p.Float64(); err == nil && f > 100 {
		v.errorAtChild("probability", -1, "invariant", "ras-2: probability must be at most 100")
	}
}

// compareDateTime compares two valid FHIR date/dateTime/instant values the
// way FHIRPath does: values with times are compared as instants; otherwise
// component by component, and if one runs out of components before a
// difference is found the result is unknown (ok false).
func compareDateTime(a, b string) (c int, ok bool) {
	na, _ := dateLen(a)
	nb, _ := dateLen(b)
	if len(a) > na && len(b) > nb {
		ta, tb := instantKey(a), instantKey(b)
		return strings.Compare(ta, tb), true
	}
	// Compare the shared date components: YYYY, -MM, -DD.
	for _, end := range [...]int{4, 7, 10} {
		if end > na || end > nb {
			break
		}
		if c := strings.Compare(a[:end], b[:end]); c != 0 {
			return c, true
		}
	}
	if len(a) == na && len(b) == nb && na == nb {
		return 0, true // the same date, at the same precision
	}
	return 0, false // same day, but one has a time and the other not
}

// instantKey normalises a full dateTime to UTC text that sorts correctly:
// "YYYY-MM-DDThh:mm:ss.fffffffff".
func instantKey(s string) string {
	date := s[:10]
	t := s[11:]
	tl := timeLen(t)
	clock, zone := t[:tl], t[tl:]
	y, mo, d := num(date, 0, 4), num(date, 5, 2), num(date, 8, 2)
	h, mi := num(clock, 0, 2), num(clock, 3, 2)
	sec := clock[6:] // ss(.f+)?
	if zone != "Z" {
		sign := 1
		if zone[0] == '-' {
			sign = -1
		}
		mi -= sign * (num(zone, 1, 2)*60 + num(zone, 4, 2))
	}
	// Normalise minutes, hours and days.
	for mi < 0 {
		mi += 60
		h--
	}
	for mi >= 60 {
		mi -= 60
		h++
	}
	for h < 0 {
		h += 24
		d--
	}
	for h >= 24 {
		h -= 24
		d++
	}
	if d < 1 {
		mo--
		if mo < 1 {
			mo = 12
			y--
		}
		d = daysIn(y, mo)
	}
	if d > daysIn(y, mo) {
		d = 1
		mo++
		if mo > 12 {
			mo = 1
			y++
		}
	}
	whole, frac, _ := strings.Cut(sec, ".")
	frac = (frac + "000000000")[:9]
	var b [32]byte
	out := b[:0]
	out = appendPad(out, y, 4)
	out = append(out, '-')
	out = appendPad(out, mo, 2)
	out = append(out, '-')
	out = appendPad(out, d, 2)
	out = append(out, 'T')
	out = appendPad(out, h, 2)
	out = append(out, ':')
	out = appendPad(out, mi, 2)
	out = append(out, ':')
	out = append(out, whole...)
	out = append(out, '.')
	out = append(out, frac...)
	return string(out)
}

func appendPad(dst []byte, n, width int) []byte {
	var buf [8]byte
	i := len(buf)
	for w := 0; w < width || n > 0; w++ {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, buf[i:]...)
}
