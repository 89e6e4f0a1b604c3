package fhirpath

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The FHIR-specific functions of the FHIRPath profile in FHIR R4
// (http://hl7.org/fhir/R4/fhirpath.html#functions).

func fnExtension(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	url, ok, err := stringArg(c, f, 0)
	if err != nil || !ok {
		return nil, err
	}
	var out []Item
	for _, it := range in {
		var exts any
		if m, ok := it.Value.(map[string]any); ok {
			exts = m["extension"]
		} else if m, ok := it.ext.(map[string]any); ok {
			exts = m["extension"]
		}
		list, _ := exts.([]any)
		for _, e := range list {
			if em, ok := e.(map[string]any); ok {
				if u, _ := em["url"].(string); u == url {
					out = append(out, Item{Value: em, Type: "Extension"})
				}
			}
		}
	}
	return out, nil
}

// fnHasValue is true for a single primitive that has a value (not only
// extensions).
func fnHasValue(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) != 1 {
		return falseItems, nil
	}
	switch in[0].Value.(type) {
	case nil, map[string]any:
		return falseItems, nil
	}
	return trueItems, nil
}

// fnGetValue returns the System value of a single primitive.
func fnGetValue(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) != 1 {
		return nil, nil
	}
	v := sysOf(in[0])
	var it Item
	switch v.k {
	case kBool:
		it = Item{Value: v.b, Type: typeBoolean}
	case kInt:
		it = Item{Value: v.i, Type: typeInteger}
	case kDec:
		it = Item{Value: json.Number(v.s), Type: typeDecimal}
	case kStr:
		it = Item{Value: v.s, Type: typeString}
	case kDate:
		it = Item{Value: v.dt.date(), Type: typeDate}
	case kDateTime:
		it = Item{Value: v.dt, Type: typeDateTime}
	case kTime:
		it = Item{Value: v.tm(), Type: typeTime}
	default:
		return nil, nil
	}
	return []Item{it}, nil
}

// fnResolve resolves references (Reference items, or reference strings).
// Contained "#id" references resolve into %resource.contained; others go
// to Options.Resolve, or without it become a stub resource of the type the
// reference names.
func fnResolve(c *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	var out []Item
	for _, it := range in {
		var ref string
		switch v := it.Value.(type) {
		case map[string]any:
			ref, _ = v["reference"].(string)
		case string:
			ref = v
		}
		if ref == "" {
			continue
		}
		if strings.HasPrefix(ref, "#") {
			out = c.resolveContained(out, ref[1:])
			continue
		}
		if c.opt.Resolve != nil {
			if r, ok := c.opt.Resolve(ref); ok {
				out = append(out, r)
			}
			continue
		}
		if typ, id, ok := c.splitReference(ref); ok {
			out = append(out, Item{Value: map[string]any{"resourceType": typ, "id": id}, Type: typ})
		}
	}
	return out, c.spend(len(out))
}

// referenceType returns the type resolve() gives a reference item, without
// Options.Resolve.
func (c *evalCtx) referenceType(it Item) (string, bool) {
	var ref string
	switch v := it.Value.(type) {
	case map[string]any:
		ref, _ = v["reference"].(string)
	case string:
		ref = v
	}
	if ref == "" {
		return "", false
	}
	if strings.HasPrefix(ref, "#") {
		r := c.resolveContained(nil, ref[1:])
		if len(r) == 0 {
			return "", false
		}
		return r[0].Type, true
	}
	typ, _, ok := c.splitReference(ref)
	return typ, ok
}

func (c *evalCtx) resolveContained(out []Item, id string) []Item {
	for _, r := range c.resourceItems() {
		m, ok := r.Value.(map[string]any)
		if !ok {
			continue
		}
		if id == "" {
			return append(out, r)
		}
		list, _ := m["contained"].([]any)
		for _, e := range list {
			if em, ok := e.(map[string]any); ok {
				if eid, _ := em["id"].(string); eid == id {
					return append(out, Item{Value: em, Type: resourceTypeOf(em)})
				}
			}
		}
	}
	return out
}

// splitReference extracts Type and id from a relative or absolute
// reference, with or without /_history/version.
func (c *evalCtx) splitReference(ref string) (typ, id string, ok bool) {
	if i := strings.IndexAny(ref, "?#|"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimSuffix(ref, "/")
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash <= 0 {
		return "", "", false
	}
	id = ref[slash+1:]
	rest := ref[:slash]
	typ = rest[strings.LastIndexByte(rest, '/')+1:]
	if !isFHIRID(id) || !c.isResourceType(typ) {
		return "", "", false
	}
	return typ, id, true
}

// isFHIRID matches [A-Za-z0-9\-\.]{1,64}.
func isFHIRID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(isIdentStart(b) && b != '_' || isDigit(b) || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// isResourceType reports whether t names a concrete resource type.
func (c *evalCtx) isResourceType(t string) bool {
	if t == "" || !isUpper(t[0]) || t == "Resource" || t == "DomainResource" {
		return false
	}
	return c.derivesFrom(t, "Resource")
}

// fnMemberOf needs a terminology service, which the evaluator does not
// have: it always returns empty (unknown).
func fnMemberOf(_ *evalCtx, _ *funcNode, _ []Item) ([]Item, error) {
	return nil, nil
}

const coreProfilePrefix = "http://hl7.org/fhir/StructureDefinition/"

// fnConformsTo checks conformance to a core FHIR type's base profile (a
// type test); other profiles cannot be checked here and are an error.
func fnConformsTo(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	url, ok, err := stringArg(c, f, 0)
	if err != nil || !ok || len(in) == 0 {
		return nil, err
	}
	if len(in) > 1 {
		return nil, fmt.Errorf("expected a single item, got %d", len(in))
	}
	name, core := strings.CutPrefix(url, coreProfilePrefix)
	if core && (isBuiltinType(name) || c.model != nil && c.knownType(name)) {
		return boolItems(c.matchType(in[0], &typeSpec{name: name}, false)), nil
	}
	return nil, &evalError{msg: "cannot check conformance to a profile other than a core type"}
}

// fnHTMLChecks is the narrative XHTML check of FHIR invariants; narrative
// is validated elsewhere, so it is always true here.
func fnHTMLChecks(_ *evalCtx, _ *funcNode, _ []Item) ([]Item, error) {
	return trueItems, nil
}
