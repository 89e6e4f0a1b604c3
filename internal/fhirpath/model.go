package fhirpath

import (
	"slices"
	"strings"
)

// Navigation over the JSON model.
//
// A child step looks up the element in the object. With a Model the
// element must be defined for the item's type (a semantic error
// otherwise, when the Model knows the type); choice elements are found
// under name+Type keys. Without a Model, or for a type the Model does not
// know, the step is inferred from the JSON: the exact key, else a key
// name+UpperCamel suffix. A primitive's "_name" sibling is attached to its
// item so extension() and id work on primitives.

// maxKeyLength bounds the JSON keys built for choice and "_name" lookups
// on the stack; longer names fall back to string concatenation.
const maxKeyLength = 96

// child appends to out the children called name of it. undefined is set
// when a Model knows the item's type and that type has no such element.
func (c *evalCtx) child(out []Item, it Item, name string) (_ []Item, undefined bool) {
	m, ok := it.Value.(map[string]any)
	if !ok {
		return c.primitiveChild(out, it, name), false
	}
	if strings.HasPrefix(it.Type, "System.") {
		return appendJSON(out, m[name], nil, systemChildType(it.Type, name)), false
	}
	if c.model != nil && it.Type != "" {
		types, choice, ok := c.model.Child(it.Type, name)
		if ok {
			if !choice {
				typ := ""
				if len(types) > 0 {
					typ = types[0]
				}
				return appendJSON(out, m[name], lookupExt(m, name), typ), false
			}
			return appendChoice(out, m, name, types), false
		}
		if c.knownType(it.Type) {
			return out, true
		}
	}
	return inferChild(out, m, name), false
}

// primitiveChild navigates from a primitive (or computed) value: only the
// id and extension of a FHIR primitive exist, and value/unit of a
// System.Quantity.
func (c *evalCtx) primitiveChild(out []Item, it Item, name string) []Item {
	if ext, ok := it.ext.(map[string]any); ok {
		switch name {
		case "extension":
			return appendJSON(out, ext["extension"], nil, "Extension")
		case "id":
			return appendJSON(out, ext["id"], nil, "string")
		}
	}
	if q, ok := it.Value.(Quantity); ok {
		switch name {
		case "value":
			return append(out, Item{Value: q.Value, Type: typeDecimal})
		case "unit":
			return append(out, Item{Value: q.Unit, Type: typeString})
		}
	}
	return out
}

// systemChildType types the fields of the values type() returns.
func systemChildType(parent, name string) string {
	if parent == typeSimpleTypeInfo || parent == typeClassInfo {
		return typeString
	}
	return ""
}

// knownType reports whether the Model defines type t (every FHIR type has
// an id element).
func (c *evalCtx) knownType(t string) bool {
	_, _, ok := c.model.Child(t, "id")
	return ok
}

// lookupExt returns the "_name" sibling of key name, or nil.
func lookupExt(m map[string]any, name string) any {
	if len(name) < maxKeyLength {
		var buf [maxKeyLength + 1]byte
		k := append(buf[:0], '_')
		k = append(k, name...)
		return m[string(k)]
	}
	return m["_"+name]
}

// appendChoice appends the value of choice element name, stored under
// name+Type for one of types.
func appendChoice(out []Item, m map[string]any, name string, types []string) []Item {
	if len(types) > len(m) {
		// Fewer keys than candidate types: scan the object.
		for k, v := range m {
			if len(k) <= len(name) || !strings.HasPrefix(k, name) || !isUpper(k[len(name)]) {
				continue
			}
			suffix := k[len(name):]
			for _, t := range types {
				if len(t) == len(suffix) && upper(t[0]) == suffix[0] && t[1:] == suffix[1:] {
					out = appendJSON(out, v, lookupExt(m, k), t)
					break
				}
			}
		}
		return out
	}
	var buf [maxKeyLength + 1]byte
	for _, t := range types {
		if t == "" {
			continue
		}
		var v, ext any
		if len(name)+len(t) < maxKeyLength {
			// "_" + name + Type, looked up without allocating.
			k := append(buf[:0], '_')
			k = append(k, name...)
			k = append(k, upper(t[0]))
			k = append(k, t[1:]...)
			v = m[string(k[1:])]
			ext = m[string(k)]
		} else {
			key := name + string(upper(t[0])) + t[1:]
			v, ext = m[key], m["_"+key]
		}
		if v == nil && ext == nil {
			continue
		}
		out = appendJSON(out, v, ext, t)
	}
	return out
}

// inferChild navigates without type information.
func inferChild(out []Item, m map[string]any, name string) []Item {
	v, ok := m[name]
	ext := lookupExt(m, name)
	if ok || ext != nil {
		return appendJSON(out, v, ext, "")
	}
	for k, v := range m {
		if len(k) > len(name) && isUpper(k[len(name)]) && strings.HasPrefix(k, name) {
			if t, ok := choiceSuffixType(k[len(name):]); ok {
				out = appendJSON(out, v, lookupExt(m, k), t)
			}
		}
	}
	return out
}

// choiceSuffixType turns the suffix of a choice key into a type name:
// "String" -> "string", "Quantity" -> "Quantity". ok is false when the
// suffix names no FHIR data type (performerType is not a choice of
// performer).
func choiceSuffixType(suffix string) (string, bool) {
	if p, ok := primitiveBySuffix[suffix]; ok {
		return p, true
	}
	base, ok := fhirTypes[suffix]
	if !ok || base == "DomainResource" || base == "Resource" || suffix == "Resource" || suffix == "Element" {
		return "", false
	}
	return suffix, true
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// appendJSON appends the items of a JSON value v (an array is flattened)
// with the primitive extensions ext (an object, or an array parallel to v).
func appendJSON(out []Item, v any, ext any, typ string) []Item {
	switch v := v.(type) {
	case []any:
		exts, _ := ext.([]any)
		n := max(len(v), len(exts))
		out = slices.Grow(out, n)
		for i := 0; i < n; i++ {
			var e, x any
			if i < len(v) {
				e = v[i]
			}
			if i < len(exts) {
				x = exts[i]
				if _, ok := x.(map[string]any); !ok {
					x = nil
				}
			}
			if e == nil && x == nil {
				continue
			}
			out = append(out, Item{Value: e, Type: refineType(typ, e), ext: x})
		}
		return out
	case nil:
		switch x := ext.(type) {
		case map[string]any:
			return append(out, Item{Type: typ, ext: ext})
		case []any:
			for _, e := range x {
				if _, ok := e.(map[string]any); ok {
					out = append(out, Item{Type: typ, ext: e})
				}
			}
		}
		return out
	}
	if _, ok := ext.(map[string]any); !ok {
		ext = nil
	}
	return append(out, Item{Value: v, Type: refineType(typ, v), ext: ext})
}

// refineType types a contained resource by its resourceType.
func refineType(typ string, v any) string {
	if typ == "" || typ == "Resource" || typ == "DomainResource" {
		if rt := resourceTypeOf(v); rt != "" {
			return rt
		}
	}
	return typ
}

// children returns the child items of it, in key order (the JSON model
// does not keep document order).
func (c *evalCtx) children(out []Item, it Item) []Item {
	m, ok := it.Value.(map[string]any)
	if !ok {
		if ext, ok := it.ext.(map[string]any); ok {
			out = appendJSON(out, ext["id"], nil, "string")
			out = appendJSON(out, ext["extension"], nil, "Extension")
		}
		return out
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		switch {
		case k == "resourceType":
		case strings.HasPrefix(k, "_"):
			if _, ok := m[k[1:]]; !ok {
				keys = append(keys, k[1:]) // a primitive with only extensions
			}
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = appendJSON(out, m[k], lookupExt(m, k), c.keyType(it.Type, k))
	}
	return out
}

// keyType types the value under JSON key k of an object of type parent.
func (c *evalCtx) keyType(parent, k string) string {
	if c.model == nil || parent == "" || strings.HasPrefix(parent, "System.") {
		for i := 1; i < len(k); i++ {
			if isUpper(k[i]) {
				if t, ok := choiceSuffixType(k[i:]); ok {
					return t
				}
			}
		}
		return ""
	}
	if types, choice, ok := c.model.Child(parent, k); ok {
		if !choice && len(types) > 0 {
			return types[0]
		}
		return ""
	}
	for i := 1; i < len(k); i++ {
		if !isUpper(k[i]) {
			continue
		}
		if types, choice, ok := c.model.Child(parent, k[:i]); ok && choice {
			suffix := k[i:]
			for _, t := range types {
				if len(t) == len(suffix) && upper(t[0]) == suffix[0] && t[1:] == suffix[1:] {
					return t
				}
			}
		}
	}
	return ""
}

// descendants returns all descendants of the input items, breadth first.
func (c *evalCtx) descendants(in []Item) ([]Item, error) {
	var out []Item
	for _, it := range in {
		out = c.children(out, it)
	}
	for i := 0; i < len(out); i++ {
		if err := c.spend(1); err != nil {
			return nil, err
		}
		out = c.children(out, out[i])
	}
	return out, nil
}

// primitiveBySuffix maps choice-key suffixes to FHIR primitive type names.
var primitiveBySuffix = func() map[string]string {
	m := make(map[string]string, len(fhirPrimitiveTypes))
	for _, p := range fhirPrimitiveTypes {
		m[string(upper(p[0]))+p[1:]] = p
	}
	return m
}()

// fhirPrimitiveTypes are the FHIR R4 primitive types.
var fhirPrimitiveTypes = []string{
	"base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
	"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
	"uri", "url", "uuid", "xhtml",
}
