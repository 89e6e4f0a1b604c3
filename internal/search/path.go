package search

import (
	"strings"
	"unicode"

	"github.com/hestiahealth/hestia/internal/fhirpath"
)

// Most official search expressions are plain paths: "Observation.code",
// "Observation.subject.where(resolve() is Patient)", "(Observation.value as
// Quantity)", "Patient.telecom.where(system='email')". Index extraction
// runs on every write, so these are compiled into a direct walk over the
// JSON model, typed statically from the definitions; anything else is
// evaluated by internal/fhirpath. TestPathMatchesFHIRPath checks that both
// give the same items for every official example.

// pathExpr is a union of path branches.
type pathExpr struct {
	branches []*pathBranch
	// roots are the top-level keys the expression reads; a resource that
	// has none of them yields nothing, without walking.
	roots  []string
	always bool // a branch selects the resource itself
	base   string
}

type pathBranch struct {
	steps []pathStep
}

// pathStep moves from each item to a child element and filters.
type pathStep struct {
	// children: the JSON keys to read, each with the FHIR type of its value
	// (several for a choice element: valueQuantity, valueString ...).
	children []keyType
	// Filters applied after the move.
	refType    string // where(resolve() is T): references to resources of type T
	whereField string // where(field='value')
	whereValue string
}

type keyType struct{ key, typ string }

// compilePath compiles expr for resource type base, or reports false when
// the expression is not a plain path this walker handles.
//
// With relative set, expr is evaluated on a value of type base and starts
// with an element name ("value.as(Quantity)"), as composite components do.
func compilePath(expr, base string, model fhirpath.Model, relative bool) (*pathExpr, bool) {
	pe := &pathExpr{base: base}
	seen := map[string]bool{}
	for _, raw := range splitUnion(expr) {
		b, ok := compileBranch(strings.TrimSpace(raw), base, model, relative)
		if !ok {
			return nil, false
		}
		pe.branches = append(pe.branches, b)
		if len(b.steps) == 0 {
			pe.roots = nil // the resource itself: always present
			pe.always = true
			continue
		}
		for _, kt := range b.steps[0].children {
			if !seen[kt.key] {
				seen[kt.key] = true
				pe.roots = append(pe.roots, kt.key)
			}
		}
	}
	return pe, len(pe.branches) > 0
}

func compileBranch(s, base string, model fhirpath.Model, relative bool) (*pathBranch, bool) {
	// Strip one pair of enclosing parentheses.
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") && matchingParen(s) == len(s)-1 {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	// A trailing " as T" applies to the last element.
	asType := ""
	if i := strings.LastIndex(s, " as "); i > 0 {
		asType = strings.TrimSpace(s[i+4:])
		s = strings.TrimSpace(s[:i])
		if !isIdent(asType) {
			return nil, false
		}
	}
	parts, ok := splitDots(s)
	if !ok {
		return nil, false
	}
	if relative {
		parts = append([]string{base}, parts...)
	}
	if len(parts) == 0 || parts[0] != base {
		return nil, false
	}
	b := &pathBranch{}
	if len(parts) == 1 {
		return b, asType == "" // the resource itself
	}
	typ := base
	var cur *pathStep
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		switch {
		case strings.HasPrefix(p, "where(resolve() is ") && strings.HasSuffix(p, ")"):
			t := strings.TrimSuffix(strings.TrimPrefix(p, "where(resolve() is "), ")")
			if cur == nil || !isIdent(t) {
				return nil, false
			}
			cur.refType = t
		case strings.HasPrefix(p, "where(") && strings.HasSuffix(p, "')"):
			field, value, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(p, "where("), "')"), "='")
			if cur == nil || !ok || !isIdent(field) || strings.ContainsAny(value, `'\`) {
				return nil, false
			}
			cur.whereField, cur.whereValue = field, value
		case (strings.HasPrefix(p, "as(") || strings.HasPrefix(p, "ofType(")) && strings.HasSuffix(p, ")"):
			t := p[strings.IndexByte(p, '(')+1 : len(p)-1]
			if cur == nil || !selectType(cur, t) {
				return nil, false
			}
			typ = cur.children[0].typ
		case isIdent(p) && unicode.IsLower(rune(p[0])):
			types, choice, ok := model.Child(typ, p)
			if !ok || len(types) == 0 {
				return nil, false
			}
			step := pathStep{}
			if choice {
				for _, t := range types {
					step.children = append(step.children, keyType{p + upperFirst(t), t})
				}
			} else {
				step.children = []keyType{{p, types[0]}}
			}
			b.steps = append(b.steps, step)
			cur = &b.steps[len(b.steps)-1]
			if len(cur.children) == 1 {
				typ = cur.children[0].typ
			} else {
				typ = ""
			}
		default:
			return nil, false
		}
		if typ == "" && i+1 < len(parts) && !strings.HasPrefix(parts[i+1], "as(") && !strings.HasPrefix(parts[i+1], "ofType(") {
			return nil, false // a choice must be narrowed before going deeper
		}
	}
	if cur == nil {
		return nil, false
	}
	if asType != "" && !selectType(cur, asType) {
		return nil, false
	}
	return b, true
}

// selectType narrows a step to the child of type t.
func selectType(step *pathStep, t string) bool {
	for _, kt := range step.children {
		if strings.EqualFold(kt.typ, t) {
			step.children = []keyType{kt}
			return true
		}
	}
	return false
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || unicode.IsLetter(c) || i > 0 && unicode.IsDigit(c)) {
			return false
		}
	}
	return true
}

// matchingParen returns the index of the parenthesis closing s[0].
func matchingParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return -1
			}
			i += j + 1
		}
	}
	return -1
}

// splitDots splits a path at the dots outside parentheses and quotes.
func splitDots(s string) ([]string, bool) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, false
			}
			i += j + 1
		case '.':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, false
	}
	return append(out, s[start:]), true
}

// eval walks res and returns the items the expression selects.
func (pe *pathExpr) eval(res map[string]any, out []fhirpath.Item) []fhirpath.Item {
	present := pe.always
	for _, k := range pe.roots {
		if _, ok := res[k]; ok {
			present = true
			break
		}
	}
	if !present {
		return out
	}
	for _, b := range pe.branches {
		if len(b.steps) == 0 {
			out = append(out, fhirpath.Item{Value: res, Type: pe.base})
			continue
		}
		out = b.walk(res, 0, out)
	}
	return out
}

func (b *pathBranch) walk(v map[string]any, i int, out []fhirpath.Item) []fhirpath.Item {
	st := &b.steps[i]
	last := i == len(b.steps)-1
	for _, kt := range st.children {
		child, ok := v[kt.key]
		if !ok {
			continue
		}
		visit := func(x any) {
			if x == nil || !st.keep(x) {
				return
			}
			if last {
				out = append(out, fhirpath.Item{Value: x, Type: kt.typ})
				return
			}
			if m, ok := x.(map[string]any); ok {
				out = b.walk(m, i+1, out)
			}
		}
		if arr, ok := child.([]any); ok {
			for _, x := range arr {
				visit(x)
			}
		} else {
			visit(child)
		}
	}
	return out
}

func (st *pathStep) keep(x any) bool {
	if st.refType == "" && st.whereField == "" {
		return true
	}
	m, ok := x.(map[string]any)
	if !ok {
		return false
	}
	if st.whereField != "" {
		if s, _ := m[st.whereField].(string); s != st.whereValue {
			return false
		}
	}
	if st.refType != "" {
		ref, _ := m["reference"].(string)
		return referenceType(ref) == st.refType
	}
	return true
}

// referenceType is the resource type a reference names: "Patient/1",
// "Patient/1/_history/2" and "http://server/fhir/Patient/1" all name
// Patient. Contained and urn references name none.
func referenceType(ref string) string {
	if ref == "" || ref[0] == '#' || strings.HasPrefix(ref, "urn:") {
		return ""
	}
	parts := strings.Split(ref, "/")
	n := len(parts)
	if n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
		n -= 2
	}
	if n < 2 {
		return ""
	}
	return parts[n-2]
}

// itemTypes lists the types of the items the expression can select.
func (pe *pathExpr) itemTypes() []string {
	var out []string
	add := func(t string) {
		for _, x := range out {
			if x == t {
				return
			}
		}
		out = append(out, t)
	}
	for _, b := range pe.branches {
		if len(b.steps) == 0 {
			add(pe.base)
			continue
		}
		for _, kt := range b.steps[len(b.steps)-1].children {
			add(kt.typ)
		}
	}
	return out
}
