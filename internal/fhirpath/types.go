package fhirpath

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Type specifiers and type tests.
//
// FHIR values are typed by their FHIR type and computed values by their
// System type; the two namespaces never match each other (a FHIR boolean
// is not a System.Boolean), except that an unqualified Quantity matches
// both. Unqualified names resolve to System for the System type names and
// to FHIR otherwise.
//
// is follows inheritance (code is a string, Age is a Quantity, Patient is
// a DomainResource). as and ofType do too, except for FHIR primitive types,
// which must match exactly (Patient.gender.as(string) is empty: gender is a
// code).

const (
	typeSimpleTypeInfo = "System.SimpleTypeInfo"
	typeClassInfo      = "System.ClassInfo"
)

// maxTypeDepth bounds walks up the type hierarchy.
const maxTypeDepth = 32

// typeSpec is a compiled type specifier.
type typeSpec struct {
	name     string
	system   bool // System namespace
	either   bool // unqualified Quantity: FHIR or System
	builtin  bool // a FHIR R4 type known without a Model
	explicit string
}

// systemTypeNames are the System types.
var systemTypeNames = map[string]bool{
	"Any": true, "Boolean": true, "String": true, "Integer": true, "Decimal": true,
	"Date": true, "DateTime": true, "Time": true, "Quantity": true,
}

// newTypeSpec resolves a (possibly qualified) type name.
func newTypeSpec(ns, name string, pos int) (*typeSpec, error) {
	ts := &typeSpec{name: name, explicit: name}
	if ns != "" {
		ts.explicit = ns + "." + name
	}
	switch ns {
	case "System":
		ts.system = true
	case "FHIR":
		ts.builtin = isBuiltinType(name)
	case "":
		switch {
		case name == "Quantity":
			ts.either, ts.builtin = true, true
		case systemTypeNames[name]:
			ts.system = true
		default:
			ts.builtin = isBuiltinType(name)
		}
	default:
		return nil, syntaxErrorf(pos, "unknown type namespace %q", truncate(ns))
	}
	return ts, nil
}

// baseTypeNames are the R4 types other types derive from.
var baseTypeNames = func() map[string]bool {
	m := map[string]bool{"BackboneElement": true} // of every backbone element
	for _, base := range fhirTypes {
		m[base] = true
	}
	return m
}()

// isLeafType reports a built-in type no other type derives from (with
// the built-in hierarchy; a Model may add profiles, which FHIRPath does
// not treat as types).
func isLeafType(name string) bool { return isBuiltinType(name) && !baseTypeNames[name] }

func isBuiltinType(name string) bool {
	_, ok := fhirTypes[name]
	return ok || name == "SimpleQuantity" || name == "MoneyQuantity"
}

// check reports an unknown FHIR type; System names never fail (an unknown
// one simply matches nothing).
func (ts *typeSpec) check(c *evalCtx) error {
	if ts.system || ts.builtin {
		return nil
	}
	if c.model != nil && (c.knownType(ts.name) || c.model.BaseType(ts.name) != "") {
		return nil
	}
	return &evalError{msg: fmt.Sprintf("unknown type %q", truncate(ts.explicit))}
}

// itemType returns an item's type, deriving System types for computed
// values a caller left untyped.
func itemType(it Item) string {
	if it.Type != "" {
		return it.Type
	}
	switch it.Value.(type) {
	case int64, int:
		return typeInteger
	case Date:
		return typeDate
	case DateTime:
		return typeDateTime
	case Time:
		return typeTime
	case Quantity:
		return typeQuantity
	}
	return ""
}

// matchType tests an item against a type specifier; exact requests as/ofType
// semantics for FHIR primitive types.
func (c *evalCtx) matchType(it Item, ts *typeSpec, exact bool) bool {
	t := itemType(it)
	if t == "" {
		return false
	}
	if strings.HasPrefix(t, "System.") {
		return (ts.system || ts.either) && t[len("System."):] == ts.name
	}
	if ts.system {
		return false
	}
	if t == ts.name {
		return true
	}
	if exact && ts.name != "" && !isUpper(ts.name[0]) {
		return false
	}
	return c.derivesFrom(t, ts.name)
}

// derivesFrom reports whether type t specialises (directly or not) base.
func (c *evalCtx) derivesFrom(t, base string) bool {
	for i := 0; i < maxTypeDepth && t != ""; i++ {
		t = c.baseType(t)
		if t == base {
			return true
		}
	}
	return false
}

// baseType asks the Model, then the built-in R4 hierarchy.
func (c *evalCtx) baseType(t string) string {
	if c.model != nil {
		if b := c.model.BaseType(t); b != "" {
			return b
		}
	}
	if b, ok := fhirTypes[t]; ok {
		return b
	}
	switch t {
	case "SimpleQuantity", "MoneyQuantity":
		return "Quantity"
	}
	if strings.IndexByte(t, '.') > 0 {
		return "BackboneElement" // a backbone element typed by its path
	}
	return ""
}

// isTypeOrBase reports whether it is of type name or derives from it, for
// a leading type name in a path (Patient.name, Resource.id). leaf says
// that no R4 type derives from name.
func (c *evalCtx) isTypeOrBase(it Item, name string, leaf bool) bool {
	if it.Type == name {
		return true
	}
	if leaf || it.Type == "" || strings.HasPrefix(it.Type, "System.") {
		return false
	}
	if _, ok := it.Value.(map[string]any); !ok {
		return false
	}
	return c.derivesFrom(it.Type, name)
}

// isTypeName reports whether name is a type (a leading type name that
// does not match the input filters it out rather than navigating).
func (c *evalCtx) isTypeName(name string, builtin bool) bool {
	return builtin || c.model != nil && c.knownType(name)
}

// typeOpNode is the is and as operators.
type typeOpNode struct {
	operand node
	ts      *typeSpec
	isOp    bool // is; otherwise as
}

func (n *typeOpNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	if n.isOp && c.opt.Resolve == nil {
		if f, ok := n.operand.(*funcNode); ok && f.def.name == "resolve" {
			return resolveIs(c, in, n.ts)
		}
	}
	v, err := n.operand.eval(c, in)
	if err != nil {
		return nil, err
	}
	if err := n.ts.check(c); err != nil {
		return nil, err
	}
	if n.isOp {
		return isType(c, v, n.ts)
	}
	// The as operator filters a collection like ofType: R4 search
	// parameters rely on (X.value as CodeableConcept) over several items.
	return filterType(c, v, n.ts), nil
}

func isType(c *evalCtx, v []Item, ts *typeSpec) ([]Item, error) {
	switch len(v) {
	case 0:
		return nil, nil
	case 1:
		return boolItems(c.matchType(v[0], ts, false)), nil
	}
	return nil, fmt.Errorf("is: expected a single item, got %d", len(v))
}

func filterType(c *evalCtx, v []Item, ts *typeSpec) []Item {
	out := c.items(min(len(v), arenaMaxSlice))
	for _, it := range v {
		if c.matchType(it, ts, true) {
			out = append(out, it)
		}
	}
	return c.shrink(out)
}

// typeInfo implements type(): namespace and name of each item.
func typeInfo(it Item) Item {
	ns, name := "FHIR", itemType(it)
	switch {
	case strings.HasPrefix(name, "System."):
		ns, name = "System", name[len("System."):]
	case name == "":
		switch v := it.Value.(type) {
		case string:
			name = "string"
		case bool:
			name = "boolean"
		case json.Number:
			if isIntegerText(string(v)) {
				name = "integer"
			} else {
				name = "decimal"
			}
		case map[string]any:
			name = resourceTypeOf(v)
		}
	}
	t := typeSimpleTypeInfo
	if ns == "FHIR" && name != "" && isUpper(name[0]) {
		t = typeClassInfo
	}
	return Item{Value: map[string]any{"namespace": ns, "name": name}, Type: t}
}

// resolveIs evaluates "resolve() is T" without building the stub
// resources: where(resolve() is Patient) is the most common search
// parameter filter.
func resolveIs(c *evalCtx, in []Item, ts *typeSpec) ([]Item, error) {
	if err := ts.check(c); err != nil {
		return nil, err
	}
	n, typ := 0, ""
	for _, it := range in {
		t, ok := c.referenceType(it)
		if ok {
			n, typ = n+1, t
		}
	}
	switch n {
	case 0:
		return nil, nil
	case 1:
		return boolItems(c.matchType(Item{Type: typ}, ts, false)), nil
	}
	return nil, fmt.Errorf("is: expected a single item, got %d", n)
}
