package fhir

import (
	"strconv"
	"strings"
	"sync"
)

// Validate checks a resource against the official R4 StructureDefinitions
// and returns every issue found (nil when there is none). It checks:
//
//   - the resource type, and that every property is an element of its type
//     (unknown properties, fhir_comments included, are errors);
//   - cardinality: required elements, arrays where max > 1 and single values
//     otherwise, no empty arrays, objects or strings, no null except the
//     placeholders that align a primitive array with its "_name" array;
//   - choice elements: one value[x] property, of an allowed type;
//   - primitive formats (the official regexes plus real calendar dates,
//     32-bit integer ranges, base64 padding, the 1 MB string limit) and the
//     "_name" objects that carry a primitive's id and extensions;
//   - required value-set bindings that can be enumerated;
//   - extensions: url present and unversioned, value[x] or nested
//     extensions but not both; unknown extension URLs are allowed;
//   - references: relative Type/id[/_history/v] with a known type allowed by
//     the element, absolute URLs, urn:uuid: and urn:oid:, and #id pointing to
//     a contained resource;
//   - contained resources (recursively; no meta.versionId, lastUpdated or
//     security, no nested contained, each referenced), Bundle entries
//     (recursively) and fullUrl rules;
//   - narrative XHTML safety (the txt-1 rule: basic HTML only, no scripts,
//     event handlers or javascript: URLs) and HTML-like tags in strings;
//   - the invariants listed in nativeInvariants.
//
// Diagnostics never quote values from the resource; Expression locates the
// element in FHIRPath ("Bundle.entry[2].resource.ofType(Patient).birthDate").
// Validate does not modify res and is safe for concurrent use.
func Validate(res map[string]any) []Issue {
	v := validatorPool.Get().(*validator)
	v.d = load()
	rt, _ := res["resourceType"].(string)
	root := "Resource"
	if IsResourceType(rt) {
		root = rt
	}
	v.push(root, -1)
	v.resource(res, roleTop)
	v.pop()
	issues := v.issues
	v.reset()
	validatorPool.Put(v)
	return issues
}

// nativeInvariants are the StructureDefinition invariants Validate checks
// itself (Constraint.Native). txt-2 is reported as a warning only.
var nativeInvariants = map[string]bool{
	"ele-1": true, "ext-1": true, "ref-1": true, "per-1": true, "ras-2": true,
	"sqty-1": true, "qty-3": true, "att-1": true,
	"dom-2": true, "dom-3": true, "dom-4": true, "dom-5": true,
	"txt-1": true, "txt-2": true,
	"bdl-1": true, "bdl-2": true, "bdl-3": true, "bdl-4": true, "bdl-5": true,
	"bdl-7": true, "bdl-8": true, "bdl-9": true, "bdl-10": true, "bdl-11": true, "bdl-12": true,
}

var validatorPool = sync.Pool{New: func() any { return &validator{} }}

type validator struct {
	d      *Definitions
	issues []Issue
	stack  []seg   // the current element path
	fields []field // per-object scratch, used as a stack
	ctx    *resCtx // the container of the resource being walked
	ctxs   []*resCtx
	nctx   int
}

func (v *validator) reset() {
	v.d, v.issues, v.ctx = nil, nil, nil
	v.stack = v.stack[:0]
	clear(v.fields[:cap(v.fields)])
	v.fields = v.fields[:0]
	v.nctx = 0
}

// seg is one step of an element path: a name, and an index for arrays.
type seg struct {
	name  string
	index int
}

func (v *validator) push(name string, index int) { v.stack = append(v.stack, seg{name, index}) }
func (v *validator) pop()                        { v.stack = v.stack[:len(v.stack)-1] }
func (v *validator) setIndex(i int)              { v.stack[len(v.stack)-1].index = i }

func (v *validator) path() string {
	var b strings.Builder
	for i, s := range v.stack {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func (v *validator) report(severity, code, msg string) {
	v.issues = append(v.issues, Issue{Severity: severity, Code: code, Diagnostics: msg, Expression: []string{v.path()}})
}

func (v *validator) errorf(code, msg string) { v.report("error", code, msg) }

// errorAtChild reports an error at a child of the current path.
func (v *validator) errorAtChild(name string, index int, code, msg string) {
	v.push(name, index)
	v.errorf(code, msg)
	v.pop()
}

// role says where a resource sits, which decides its rules.
type role uint8

const (
	roleTop       role = iota // the resource being validated
	roleContained             // in DomainResource.contained
	roleInner                 // Bundle.entry.resource, Parameters.parameter.resource, ...
)

// resCtx tracks local (#id) references within one resource and its
// contained resources.
type resCtx struct {
	contained []string // ids of the contained resources, "" if missing
	current   int      // index of the contained resource being walked, -1 for the container
	refs      []localRef
}

type localRef struct {
	id   string // without '#'
	from int    // index of the contained resource it occurs in, -1 for the container
}

func (v *validator) newCtx() *resCtx {
	if v.nctx == len(v.ctxs) {
		v.ctxs = append(v.ctxs, &resCtx{})
	}
	c := v.ctxs[v.nctx]
	v.nctx++
	c.contained = c.contained[:0]
	c.refs = c.refs[:0]
	c.current = -1
	return c
}

// resource validates a resource object; the current path names it.
func (v *validator) resource(m map[string]any, r role) {
	rt, ok := m["resourceType"].(string)
	if !ok {
		v.errorf("structure", "resourceType is missing or not a string")
		return
	}
	t := v.d.types[rt]
	if t == nil || t.kind != kindResource || t.abstract {
		v.errorf("structure", "unknown resource type")
		return
	}

	outer, outerN := v.ctx, v.nctx
	if r != roleContained {
		v.ctx = v.newCtx()
		if list, ok := m["contained"].([]any); ok {
			for _, c := range list {
				id := ""
				if cm, ok := c.(map[string]any); ok {
					if _, isRes := cm["resourceType"].(string); isRes {
						id, _ = cm["id"].(string)
					}
				}
				v.ctx.contained = append(v.ctx.contained, id)
			}
		}
	}

	if _, ok := m["_id"]; ok {
		v.errorAtChild("id", -1, "structure", "extensions are not allowed on Resource.id")
	}
	v.object(m, t.table, true)

	if r == roleContained {
		v.containedRules(m)
	} else {
		v.checkContainedReferenced(m)
		v.ctx, v.nctx = outer, outerN
	}
	switch rt {
	case "Bundle":
		v.bundle(m)
	}
}

// containedRules checks dom-2, dom-4 and dom-5 on a contained resource.
func (v *validator) containedRules(m map[string]any) {
	if _, ok := m["contained"]; ok {
		v.errorAtChild("contained", -1, "invariant", "dom-2: a contained resource must not contain resources")
	}
	if _, ok := m["id"]; !ok {
		v.errorf("invariant", "a contained resource must have an id")
	}
	if meta, ok := m["meta"].(map[string]any); ok {
		_, hasVersion := meta["versionId"]
		_, hasUpdated := meta["lastUpdated"]
		if hasVersion || hasUpdated {
			v.errorAtChild("meta", -1, "invariant", "dom-4: a contained resource must not have meta.versionId or meta.lastUpdated")
		}
		if _, ok := meta["security"]; ok {
			v.errorAtChild("meta", -1, "invariant", "dom-5: a contained resource must not have security labels")
		}
	}
}

// checkContainedReferenced checks dom-3 (each contained resource is
// referenced from elsewhere in the resource, or refers to its container)
// and that contained ids are unique.
func (v *validator) checkContainedReferenced(m map[string]any) {
	c := v.ctx
	if len(c.contained) == 0 {
		return
	}
	// Linear in the number of contained resources and references: a
	// resource with 100,000 contained resources must not cost O(n²).
	byID := make(map[string]int, len(c.refs))
	byIDFrom := make(map[localRef]int, len(c.refs))
	toContainer := make(map[int]bool)
	for _, r := range c.refs {
		if r.id == "" {
			toContainer[r.from] = true
			continue
		}
		byID[r.id]++
		byIDFrom[r]++
	}
	seen := make(map[string]bool, len(c.contained))
	for i, id := range c.contained {
		if id == "" {
			continue
		}
		if seen[id] {
			v.errorAtChild("contained", i, "invariant", "duplicate contained resource id")
		}
		seen[id] = true
		// Referenced from outside itself, or refers to its container.
		if byID[id] > byIDFrom[localRef{id, i}] || toContainer[i] {
			continue
		}
		v.errorAtChild("contained", i, "invariant", "dom-3: the contained resource is not referenced from elsewhere in the resource")
	}
}

// field is one property of the object being walked.
type field struct {
	key     string
	val     any
	elem    *element
	typ     int
	under   bool // "_name": the id and extensions of a primitive
	unknown bool
}

func fieldLess(a, b *field) bool {
	if a.unknown != b.unknown {
		return b.unknown
	}
	if a.unknown {
		return a.key < b.key
	}
	if a.elem.index != b.elem.index {
		return a.elem.index < b.elem.index
	}
	if a.typ != b.typ {
		return a.typ < b.typ
	}
	return !a.under && b.under
}

// object validates the properties of a JSON object against a table of
// elements. The current path names the object.
func (v *validator) object(m map[string]any, tb *table, isResource bool) {
	start := len(v.fields)
	for k, val := range m {
		if isResource && k == "resourceType" {
			continue
		}
		f := field{key: k, val: val}
		name := k
		if strings.HasPrefix(k, "_") {
			f.under = true
			name = k[1:]
		}
		ref, ok := tb.byKey[name]
		if !ok || (f.under && ref.elem.types[ref.typ].kind != kindPrimitive) {
			f.unknown = true
		} else {
			f.elem, f.typ = ref.elem, ref.typ
		}
		v.fields = append(v.fields, f)
	}
	end := len(v.fields)
	// Insertion sort: objects have few properties, and definition order
	// makes the issues deterministic.
	fs := v.fields[start:end]
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fieldLess(&fs[j], &fs[j-1]); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}

	// Required elements: a merge walk over the sorted properties.
	fi := start
	for _, req := range tb.required {
		for fi < end && !v.fields[fi].unknown && v.fields[fi].elem.index < req.index {
			fi++
		}
		if fi >= end || v.fields[fi].unknown || v.fields[fi].elem != req {
			v.errorAtChild(req.name, -1, "required", "missing required element")
		}
	}

	for i := start; i < end; {
		f := v.fields[i]
		if f.unknown {
			v.errorAtChild(safeName(f.key), -1, "structure", "unknown property")
			i++
			continue
		}
		// The group of properties of one element: its value(s) and "_" companions.
		j := i + 1
		for j < end && !v.fields[j].unknown && v.fields[j].elem == f.elem {
			j++
		}
		var val, ext any
		hasVal, hasExt := false, false
		typ := -1
		for k := i; k < j; k++ {
			g := v.fields[k]
			if typ >= 0 && g.typ != typ {
				v.errorAtChild(f.elem.name, -1, "structure", "a choice element must have only one value[x] property")
				continue
			}
			typ = g.typ
			if g.under {
				ext, hasExt = g.val, true
			} else {
				val, hasVal = g.val, true
			}
		}
		v.element(f.elem, typ, val, hasVal, ext, hasExt)
		i = j
	}
	clear(v.fields[start:end])
	v.fields = v.fields[:start]
}

// safeName returns a property name fit for a diagnostic path: short names
// made of identifier characters, else a placeholder.
func safeName(k string) string {
	if len(k) == 0 || len(k) > 64 {
		return "(property)"
	}
	for i := 0; i < len(k); i++ {
		if !isWordChar(k[i]) && k[i] != '-' {
			return "(property)"
		}
	}
	return k
}

// element validates the value of one element (and the "_name" companion of
// a primitive). typ selects the type of a choice element.
func (v *validator) element(e *element, typ int, val any, hasVal bool, ext any, hasExt bool) {
	et := &e.types[typ]
	depth := len(v.stack)
	v.push(e.name, -1)
	if e.choice {
		v.push(et.ofType, -1)
	}
	v.elementValue(e, et, val, hasVal, ext, hasExt)
	v.stack = v.stack[:depth]
}

func (v *validator) elementValue(e *element, et *elemType, val any, hasVal bool, ext any, hasExt bool) {
	if e.max == 0 {
		v.errorf("structure", "element is not allowed")
		return
	}
	if et.kind == kindPrimitive {
		v.primitive(e, et, val, hasVal, ext, hasExt)
		return
	}
	if e.max == 1 {
		if _, isArray := val.([]any); isArray {
			v.errorf("structure", "must be a single value, not an array")
			return
		}
		if val == nil {
			v.errorf("structure", "null is not allowed")
			return
		}
		v.value(e, et, val)
		return
	}
	list, ok := val.([]any)
	if !ok {
		v.errorf("structure", "must be a JSON array")
		return
	}
	if len(list) == 0 {
		v.errorf("structure", "array must not be empty: omit the property instead")
		return
	}
	if e.max > 1 && len(list) > e.max {
		v.errorf("structure", "too many values: at most "+strconv.Itoa(e.max)+" allowed")
	}
	for i, item := range list {
		v.setIndex(i)
		if item == nil {
			v.errorf("structure", "null is not allowed in an array")
			continue
		}
		v.value(e, et, item)
	}
}

// value validates one complex, backbone or resource value.
func (v *validator) value(e *element, et *elemType, val any) {
	m, ok := val.(map[string]any)
	if !ok {
		v.errorf("structure", "must be a JSON object")
		return
	}
	if et.kind == kindResource {
		rt, _ := m["resourceType"].(string)
		if !IsResourceType(rt) {
			v.resource(m, roleInner) // reports the missing or unknown type
			return
		}
		v.push(v.d.types[rt].ofType, -1)
		if e.name == "contained" {
			c := v.ctx
			prev := c.current
			c.current = v.stack[len(v.stack)-2].index
			v.resource(m, roleContained)
			c.current = prev
		} else {
			v.resource(m, roleInner)
		}
		v.pop()
		return
	}
	if len(m) == 0 {
		v.errorf("structure", "object must not be empty: omit the property instead")
		return
	}
	if _, onlyID := m["id"]; onlyID && len(m) == 1 {
		v.errorf("invariant", "ele-1: an element must have a value or children besides its id")
	}
	v.object(m, et.table, false)
	v.typeRules(e, et, m)
}

// primitive validates a primitive element: its value(s) and "_name"
// companion(s), aligned when they are arrays.
func (v *validator) primitive(e *element, et *elemType, val any, hasVal bool, ext any, hasExt bool) {
	if e.max == 1 {
		if hasVal {
			switch val.(type) {
			case []any:
				v.errorf("structure", "must be a single value, not an array")
			case map[string]any:
				v.errorf("structure", "a primitive value must be a JSON string, number or boolean")
			case nil:
				if !hasExt {
					v.errorf("structure", "null is not allowed")
				}
			default:
				v.primValue(e, et, val)
			}
		}
		if hasExt {
			v.primExt(et, ext)
		}
		return
	}

	var vals, exts []any
	if hasVal {
		var ok bool
		if vals, ok = val.([]any); !ok {
			v.errorf("structure", "must be a JSON array")
			return
		}
		if len(vals) == 0 {
			v.errorf("structure", "array must not be empty: omit the property instead")
			return
		}
	}
	if hasExt {
		var ok bool
		if exts, ok = ext.([]any); !ok {
			v.errorf("structure", "the _"+e.name+" property must be a JSON array")
			return
		}
		if len(exts) == 0 {
			v.errorf("structure", "array must not be empty: omit the property instead")
			return
		}
	}
	if hasVal && hasExt && len(vals) != len(exts) {
		v.errorf("structure", "the "+e.name+" and _"+e.name+" arrays must have the same length")
		return
	}
	n := max(len(vals), len(exts))
	if e.max > 1 && n > e.max {
		v.errorf("structure", "too many values: at most "+strconv.Itoa(e.max)+" allowed")
	}
	for i := range n {
		var vi, xi any
		if i < len(vals) {
			vi = vals[i]
		}
		if i < len(exts) {
			xi = exts[i]
		}
		v.setIndex(i)
		if vi == nil && xi == nil {
			v.errorf("structure", "null is only allowed where the matching _"+e.name+" entry has content")
			continue
		}
		if vi != nil {
			switch vi.(type) {
			case []any, map[string]any:
				v.errorf("structure", "a primitive value must be a JSON string, number or boolean")
			default:
				v.primValue(e, et, vi)
			}
		}
		if xi != nil {
			v.primExt(et, xi)
		}
	}
	v.setIndex(-1)
}

// primExt validates the object that carries a primitive's id and
// extensions.
func (v *validator) primExt(et *elemType, ext any) {
	m, ok := ext.(map[string]any)
	if !ok || len(m) == 0 {
		v.errorf("structure", "the _ companion of a primitive must be a non-empty object")
		return
	}
	v.object(m, et.table, false)
}

// primValue checks one primitive value: format, binding and the rules of
// its type.
func (v *validator) primValue(e *element, et *elemType, val any) {
	if code, msg := checkPrimitive(et.prim, val); code != "" {
		v.errorf(code, msg)
		return
	}
	s, _ := val.(string)
	switch et.prim {
	case primCode:
		if b := e.binding; b != nil && b.codes != nil && !b.codes[s] {
			v.errorf("code-invalid", "code is not in the required value set "+b.url)
		}
	case primString:
		if looksLikeHTML(s) {
			v.errorf("security", "the string contains text that looks like an HTML tag, which is not allowed here")
		}
	case primXHTML:
		v.narrative(s)
	case primCanonical, primURI, primURL:
		if strings.HasPrefix(s, "#") {
			v.localRef(s[1:], false) // counts for dom-3; ref-1 is about References
		}
	}
}

// localRef records a #id reference and, if check, reports one that does
// not resolve to a contained resource.
func (v *validator) localRef(id string, check bool) {
	c := v.ctx
	if c == nil {
		return
	}
	c.refs = append(c.refs, localRef{id: id, from: c.current})
	if !check {
		return
	}
	if id == "" {
		if c.current < 0 {
			v.errorf("invariant", "ref-1: a reference to the container ('#') is only allowed in a contained resource")
		}
		return
	}
	for _, cid := range c.contained {
		if cid == id {
			return
		}
	}
	v.errorf("invariant", "ref-1: a local reference must point to a contained resource")
}
