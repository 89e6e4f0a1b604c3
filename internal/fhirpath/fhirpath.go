package fhirpath

import (
	"fmt"
	"sync"
	"time"
)

// Item is one member of a FHIRPath collection.
//
// For FHIR data, Value is the model value of one element (map[string]any,
// string, bool or json.Number; arrays are flattened into several Items)
// and Type its FHIR type when known. A primitive element that has only
// extensions (a null in the JSON array with a "_name" sibling) has a nil
// Value. For values computed by an expression, Value is bool, int64,
// json.Number (System.Decimal, the exact decimal text), string, Date,
// DateTime, Time or Quantity, and Type the System type name.
//
// Items of primitives that carry extensions also hold an unexported
// reference to the "_name" JSON object; compare Items by Value and Type,
// not with == or reflect.DeepEqual.
type Item struct {
	Value any
	Type  string // FHIR type name ("Patient", "HumanName", "code", "Patient.contact"), "System.X" for computed values, "" when unknown

	ext any // map[string]any: the "_name" object of a FHIR primitive, or nil
}

// Model gives the evaluator FHIR type information.
type Model interface {
	// Child describes element name of a value whose type is parent (a
	// type name as in Item.Type). For a choice element (Observation.value[x])
	// it returns every allowed type with choice=true; the JSON key is then
	// name + the type with its first letter upper-cased. Backbone elements
	// are typed by their path: Child("Patient", "contact") =
	// ["Patient.contact"]. ok=false when the element does not exist.
	Child(parent, name string) (types []string, choice bool, ok bool)
	// BaseType returns the type t derives from ("Patient" ->
	// "DomainResource" -> "Resource" -> ""; "code" -> "string"; "Age" ->
	// "Quantity"), or "" at the root.
	BaseType(t string) string
}

// Options configures one evaluation. The zero value (or a nil *Options) is
// valid.
type Options struct {
	// Model types the data. Without it the evaluator infers: an exact key,
	// else a key name+Suffix where Suffix names a FHIR data type is a
	// choice element typed by the suffix (first letter lower-cased for FHIR
	// primitive types); resources are typed by resourceType; other
	// elements have Type "".
	Model Model
	// Resource is %resource and %rootResource; it defaults to the input.
	Resource any
	// Resolve resolves a reference for resolve(). Without it, "Type/id"
	// references (relative, absolute or with _history) yield
	// Item{Type: "Type", Value: map[string]any{"resourceType": "Type", "id": "id"}},
	// enough for where(resolve() is Patient). Contained "#id" references
	// always resolve into %resource.contained.
	Resolve func(reference string) (Item, bool)
	// Now is the clock for now(), today() and timeOfDay(); zero means
	// time.Now() (read once per evaluation).
	Now time.Time
	// Vars holds extra %variables, by name without the %.
	Vars map[string][]Item
}

// Expr is a compiled FHIRPath expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	src  string
	root node
	// lits are the literal collections of the tree: a result that is one of
	// them is copied before it is returned.
	lits []*literalNode
}

// Compile parses expr and checks what can be checked without data: syntax,
// function names and arities, literals, type specifiers.
func Compile(expr string) (*Expr, error) {
	root, lits, err := parse(expr)
	if err != nil {
		return nil, err
	}
	return &Expr{src: expr, root: root, lits: lits}, nil
}

// MustCompile is Compile for expressions known to be valid; it panics on
// error and is meant for package-level variables.
func MustCompile(expr string) *Expr {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text.
func (e *Expr) String() string { return e.src }

// Evaluate evaluates e against a model value, usually a resource
// (map[string]any); a []any is taken as a collection. opt may be nil.
func (e *Expr) Evaluate(input any, opt *Options) ([]Item, error) {
	c := newCtx(opt)
	defer releaseCtx(c)
	var items []Item
	switch input.(type) {
	case nil, []any, []Item, Item:
		items = itemsOf(input)
	default:
		c.root[0] = Item{Value: input, Type: resourceTypeOf(input)}
		items = c.root[:1:1]
	}
	return e.run(c, items)
}

// EvaluateItems evaluates e starting from a typed collection. opt may be
// nil.
func (e *Expr) EvaluateItems(input []Item, opt *Options) ([]Item, error) {
	c := newCtx(opt)
	defer releaseCtx(c)
	return e.run(c, input)
}

func (e *Expr) run(c *evalCtx, input []Item) ([]Item, error) {
	c.this, c.context = input, input
	out, err := e.root.eval(c, input)
	if err != nil {
		return nil, fmt.Errorf("fhirpath: evaluating %q: %w", truncate(e.src), err)
	}
	if len(out) > 0 && e.owns(c, out) {
		out = append([]Item(nil), out...)
	}
	return out, nil
}

// owns reports whether out aliases memory the Expr or the pooled context
// owns: a literal, a shared Boolean, the context's input slot. Such slices
// only ever hold one item, at index 0.
func (e *Expr) owns(c *evalCtx, out []Item) bool {
	p := &out[0]
	if p == &trueItems[0] || p == &falseItems[0] || p == &c.root[0] {
		return true
	}
	for _, l := range e.lits {
		if p == &l.items[0] {
			return true
		}
	}
	return false
}

// ctxPool recycles evaluation contexts, so an evaluation allocates little
// more than its results.
var ctxPool = sync.Pool{New: func() any { return new(evalCtx) }}

func newCtx(opt *Options) *evalCtx {
	if opt == nil {
		opt = &zeroOptions
	}
	c := ctxPool.Get().(*evalCtx)
	c.opt, c.model, c.index = opt, opt.Model, -1
	return c
}

func releaseCtx(c *evalCtx) {
	*c = evalCtx{} // drop references to data and to the arena
	ctxPool.Put(c)
}

var zeroOptions Options

// itemsOf wraps a model value as a collection.
func itemsOf(v any) []Item {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]Item, 0, len(v))
		for _, e := range v {
			if e != nil {
				out = append(out, Item{Value: e, Type: resourceTypeOf(e)})
			}
		}
		return out
	case []Item:
		return v
	case Item:
		return []Item{v}
	}
	return []Item{{Value: v, Type: resourceTypeOf(v)}}
}

// resourceTypeOf returns the resourceType of a resource map, or "".
func resourceTypeOf(v any) string {
	if m, ok := v.(map[string]any); ok {
		if rt, ok := m["resourceType"].(string); ok {
			return rt
		}
	}
	return ""
}

// Truthy evaluates a result as a singleton Boolean, as FHIRPath does for
// the criteria of where() or an invariant: an empty collection is
// undefined (false, false); a single Boolean is its value; any other
// single item is true. A collection of several items is not a singleton
// and is reported undefined.
func Truthy(items []Item) (value bool, defined bool) {
	if len(items) != 1 {
		return false, false
	}
	if b, ok := items[0].Value.(bool); ok {
		return b, true
	}
	if items[0].Value == nil {
		return false, false
	}
	return true, true
}
