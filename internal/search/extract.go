package search

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/fhirpath"
	"github.com/hestiahealth/hestia/internal/store"
)

// Extract computes the index rows of a resource: every search parameter of
// its type, evaluated on it. The rows are returned as the extraction found
// them; Encoder.EncodeIndex must be applied before they are stored.
func (r *Registry) Extract(res map[string]any) (*store.Index, error) {
	typ, _ := res["resourceType"].(string)
	params := r.byType[typ]
	x := &store.Index{}
	opt := &fhirpath.Options{Model: r.model, Resource: res}
	group := int32(0)
	var scratch []fhirpath.Item
	for _, p := range params {
		if p.expr == nil || p.Code == "_id" || p.Code == "_lastUpdated" {
			continue // no expression, or kept as a column of the resource row
		}
		var items []fhirpath.Item
		var err error
		if p.path != nil {
			scratch = p.path.eval(res, scratch[:0])
			items = scratch
		} else if items, err = p.expr.Evaluate(res, opt); err != nil {
			return nil, fmt.Errorf("search: extract %s on %s: %w", p.Code, typ, err)
		}
		if len(items) == 0 {
			continue
		}
		if p.Type == "composite" {
			// A composite value is indexed only when every component has a
			// value: a partial one could never match.
			parts := make([][]fhirpath.Item, len(p.Components))
			for _, it := range items {
				complete := true
				for i, c := range p.Components {
					if pe, m := c.paths[it.Type], asMap(it.Value); pe != nil && m != nil {
						parts[i] = pe.eval(m, parts[i][:0])
					} else if parts[i], err = c.expr.EvaluateItems([]fhirpath.Item{it}, opt); err != nil {
						return nil, fmt.Errorf("search: extract %s on %s: %w", p.Code, typ, err)
					}
					if len(parts[i]) == 0 {
						complete = false
						break
					}
				}
				if !complete {
					continue
				}
				group++
				for i, c := range p.Components {
					for _, part := range parts[i] {
						addValue(x, c.Key, c.Type, group, part)
					}
				}
			}
			continue
		}
		for _, it := range items {
			addValue(x, p.Key, p.Type, 0, it)
		}
	}
	return x, nil
}

// addValue converts one FHIRPath result into index rows of kind typ.
func addValue(x *store.Index, key, typ string, group int32, it fhirpath.Item) {
	switch typ {
	case "string":
		addString(x, key, group, it)
	case "token":
		addToken(x, key, group, it)
	case "reference":
		addReference(x, key, group, it)
	case "date":
		addDate(x, key, group, it)
	case "number":
		addNumber(x, key, group, it)
	case "quantity":
		addQuantity(x, key, group, it)
	case "uri":
		if s, ok := it.Value.(string); ok && s != "" {
			x.URIs = append(x.URIs, store.URIRow{Param: key, Group: group, URI: s})
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func strs(m map[string]any, k string) []string {
	switch v := m[k].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func stringRow(key string, group int32, s string) store.StringRow {
	return store.StringRow{Param: key, Group: group, Norm: Normalize(s), Exact: s}
}

func addString(x *store.Index, key string, group int32, it fhirpath.Item) {
	switch v := it.Value.(type) {
	case string:
		if v != "" {
			x.Strings = append(x.Strings, stringRow(key, group, v))
		}
	case map[string]any:
		var parts []string
		switch baseType(it.Type, v) {
		case "HumanName":
			parts = append(parts, str(v, "text"), str(v, "family"))
			parts = append(parts, strs(v, "given")...)
			parts = append(parts, strs(v, "prefix")...)
			parts = append(parts, strs(v, "suffix")...)
		case "Address":
			parts = append(parts, strs(v, "line")...)
			for _, k := range []string{"city", "district", "state", "postalCode", "country", "text"} {
				parts = append(parts, str(v, k))
			}
		}
		for _, p := range parts {
			if p != "" {
				x.Strings = append(x.Strings, stringRow(key, group, p))
			}
		}
	}
}

// baseType tells complex values apart when the FHIRPath type is unknown.
func baseType(t string, v map[string]any) string {
	switch t {
	case "SimpleQuantity", "Age", "Count", "Distance", "Duration", "MoneyQuantity":
		return "Quantity"
	case "":
	default:
		return t
	}
	switch {
	case has(v, "family") || has(v, "given"):
		return "HumanName"
	case has(v, "line") || has(v, "city") || has(v, "postalCode"):
		return "Address"
	case has(v, "coding"):
		return "CodeableConcept"
	case has(v, "reference"):
		return "Reference"
	case has(v, "start") || has(v, "end"):
		return "Period"
	case has(v, "low") || has(v, "high"):
		return "Range"
	case has(v, "currency"):
		return "Money"
	case has(v, "value") && (has(v, "unit") || has(v, "code")):
		return "Quantity"
	case has(v, "value") && has(v, "system") && !has(v, "use"):
		return "Identifier"
	case has(v, "code"):
		return "Coding"
	}
	return ""
}

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// textRow adds the display text of a token for :text. Composite
// components take no modifiers, so they get none.
func textRow(x *store.Index, key string, group int32, s string) {
	if s != "" && group == 0 {
		x.Strings = append(x.Strings, stringRow(key+TextSuffix, group, s))
	}
}

// TextSuffix, IdentifierSuffix and OfTypeSuffix name the extra rows of
// token and reference parameters: the display text for :text, the
// Reference.identifier for :identifier, and an Identifier's type coding
// (as "system|code" in the system column) with its value for :of-type.
const (
	TextSuffix       = ":text"
	IdentifierSuffix = ":identifier"
	OfTypeSuffix     = ":of-type"
)

func addToken(x *store.Index, key string, group int32, it fhirpath.Item) {
	switch v := it.Value.(type) {
	case string:
		if v != "" {
			x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, Code: v})
		}
	case bool:
		x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, Code: strconv.FormatBool(v)})
	case json.Number:
		x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, Code: string(v)})
	case map[string]any:
		switch baseType(it.Type, v) {
		case "CodeableConcept":
			if cs, ok := v["coding"].([]any); ok {
				for _, c := range cs {
					if cm, ok := c.(map[string]any); ok {
						addCoding(x, key, group, cm)
					}
				}
			}
			textRow(x, key, group, str(v, "text"))
		case "Coding":
			addCoding(x, key, group, v)
		case "Identifier":
			if val := str(v, "value"); val != "" {
				x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, System: str(v, "system"), Code: val})
			}
			if t, ok := v["type"].(map[string]any); ok {
				textRow(x, key, group, str(t, "text"))
				if val := str(v, "value"); val != "" && group == 0 {
					// :of-type matches the identifier type's coding and the value together.
					cs, _ := t["coding"].([]any)
					for _, c := range cs {
						if cm, ok := c.(map[string]any); ok && str(cm, "code") != "" {
							x.Tokens = append(x.Tokens, store.TokenRow{Param: key + OfTypeSuffix, System: str(cm, "system") + "|" + str(cm, "code"), Code: val})
						}
					}
				}
			}
		case "ContactPoint":
			if val := str(v, "value"); val != "" {
				x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, System: str(v, "system"), Code: val})
			}
		case "Quantity":
			// A token parameter over a quantity (rare): index its code.
			if c := str(v, "code"); c != "" {
				x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, System: str(v, "system"), Code: c})
			}
		}
	}
}

func addCoding(x *store.Index, key string, group int32, c map[string]any) {
	code, system := str(c, "code"), str(c, "system")
	if code != "" || system != "" {
		x.Tokens = append(x.Tokens, store.TokenRow{Param: key, Group: group, System: system, Code: code})
	}
	textRow(x, key, group, str(c, "display"))
}

func addReference(x *store.Index, key string, group int32, it fhirpath.Item) {
	switch v := it.Value.(type) {
	case string: // canonical or uri
		if v != "" {
			addRefString(x, key, group, v)
		}
	case map[string]any:
		if rt, ok := v["resourceType"].(string); ok {
			// A resource (Bundle.entry.resource): reference it by type and id.
			if id := str(v, "id"); id != "" {
				x.References = append(x.References, store.ReferenceRow{Param: key, Group: group, Type: rt, ID: id})
			}
			return
		}
		if ref := str(v, "reference"); ref != "" {
			addRefString(x, key, group, ref)
		}
		if idf, ok := v["identifier"].(map[string]any); ok {
			if val := str(idf, "value"); val != "" {
				x.Tokens = append(x.Tokens, store.TokenRow{Param: key + IdentifierSuffix, Group: group, System: str(idf, "system"), Code: val})
			}
		}
	}
}

func addRefString(x *store.Index, key string, group int32, ref string) {
	typ, id, url := ParseReference(ref)
	switch {
	case id != "":
		x.References = append(x.References, store.ReferenceRow{Param: key, Group: group, Type: typ, ID: id})
	case url != "":
		x.References = append(x.References, store.ReferenceRow{Param: key, Group: group, URL: url})
	}
}

// ParseReference classifies a reference string: a local reference
// "Type/id" (a version suffix "/_history/n" is dropped) gives typ and id; an
// absolute URL, a URN or a canonical gives url; a contained reference "#x"
// gives nothing.
func ParseReference(ref string) (typ, id, url string) {
	if ref == "" || ref[0] == '#' {
		return "", "", ""
	}
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "urn:") {
		return "", "", ref
	}
	parts := strings.Split(ref, "/")
	if len(parts) == 2 || len(parts) == 4 && parts[2] == "_history" {
		if fhir.IsResourceType(parts[0]) && fhir.ValidID(parts[1]) {
			return parts[0], parts[1], ""
		}
	}
	return "", "", ref
}

func addDate(x *store.Index, key string, group int32, it fhirpath.Item) {
	switch v := it.Value.(type) {
	case string:
		if lo, hi, err := dateRange(v); err == nil {
			x.Dates = append(x.Dates, store.DateRow{Param: key, Group: group, Lo: lo, Hi: hi})
		}
	case map[string]any:
		switch baseType(it.Type, v) {
		case "Period":
			lo, hi := store.MinTime, store.MaxTime
			if s := str(v, "start"); s != "" {
				if l, _, err := dateRange(s); err == nil {
					lo = l
				}
			}
			if e := str(v, "end"); e != "" {
				if _, h, err := dateRange(e); err == nil {
					hi = h
				}
			}
			if lo != store.MinTime || hi != store.MaxTime {
				x.Dates = append(x.Dates, store.DateRow{Param: key, Group: group, Lo: lo, Hi: hi})
			}
		case "Timing":
			for _, e := range strs(v, "event") {
				if lo, hi, err := dateRange(e); err == nil {
					x.Dates = append(x.Dates, store.DateRow{Param: key, Group: group, Lo: lo, Hi: hi})
				}
			}
		}
	}
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		}
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

func addNumber(x *store.Index, key string, group int32, it fhirpath.Item) {
	if f, ok := number(it.Value); ok {
		x.Numbers = append(x.Numbers, store.NumberRow{Param: key, Group: group, Lo: f, Hi: f})
		return
	}
	if m, ok := it.Value.(map[string]any); ok {
		switch baseType(it.Type, m) {
		case "Range":
			lo, hi, ok := rangeBounds(m)
			if ok {
				x.Numbers = append(x.Numbers, store.NumberRow{Param: key, Group: group, Lo: lo, Hi: hi})
			}
		case "Quantity":
			if f, ok := number(m["value"]); ok {
				x.Numbers = append(x.Numbers, store.NumberRow{Param: key, Group: group, Lo: f, Hi: f})
			}
		}
	}
}

// rangeBounds reads a Range; an open end is unbounded.
func rangeBounds(m map[string]any) (lo, hi float64, ok bool) {
	lo, hi = -maxFloat, maxFloat
	if l, isMap := m["low"].(map[string]any); isMap {
		if f, fok := number(l["value"]); fok {
			lo, ok = f, true
		}
	}
	if h, isMap := m["high"].(map[string]any); isMap {
		if f, fok := number(h["value"]); fok {
			hi, ok = f, true
		}
	}
	return lo, hi, ok
}

const maxFloat = 1.7976931348623157e308

func addQuantity(x *store.Index, key string, group int32, it fhirpath.Item) {
	m, ok := it.Value.(map[string]any)
	if !ok {
		if f, ok := number(it.Value); ok {
			x.Quantities = append(x.Quantities, store.QuantityRow{Param: key, Group: group, Lo: f, Hi: f})
		}
		return
	}
	switch baseType(it.Type, m) {
	case "Quantity":
		if f, ok := number(m["value"]); ok {
			x.Quantities = append(x.Quantities, store.QuantityRow{Param: key, Group: group, System: str(m, "system"), Code: str(m, "code"), Unit: str(m, "unit"), Lo: f, Hi: f})
		}
	case "Money":
		if f, ok := number(m["value"]); ok {
			cur := str(m, "currency")
			x.Quantities = append(x.Quantities, store.QuantityRow{Param: key, Group: group, System: "urn:iso:std:iso:4217", Code: cur, Unit: cur, Lo: f, Hi: f})
		}
	case "Range":
		if lo, hi, ok := rangeBounds(m); ok {
			var unit map[string]any
			if l, isMap := m["low"].(map[string]any); isMap {
				unit = l
			} else if h, isMap := m["high"].(map[string]any); isMap {
				unit = h
			}
			x.Quantities = append(x.Quantities, store.QuantityRow{Param: key, Group: group, System: str(unit, "system"), Code: str(unit, "code"), Unit: str(unit, "unit"), Lo: lo, Hi: hi})
		}
	}
}
