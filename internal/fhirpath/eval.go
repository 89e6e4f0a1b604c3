package fhirpath

import (
	"errors"
	"fmt"
	"time"
)

// Evaluation limits. They bound the memory and time one evaluation can
// take whatever the expression and data.
const (
	// maxWork bounds the work of one evaluation: the items it produces
	// (navigation, function results, repeat and descendants expansion),
	// the operators and functions it applies, and a sixteenth of the
	// pairwise comparisons it makes.
	maxWork = 1 << 20
	// maxStringLength bounds strings built by the evaluator (concatenation,
	// replace, join, encode).
	maxStringLength = 1 << 20
	// maxValueDepth bounds recursion into nested data (deep equality), so a
	// cyclic structure handed in by a caller cannot exhaust the stack.
	maxValueDepth = 256
)

var (
	errWorkLimit   = errors.New("evaluation exceeds the work limit")
	errStringLimit = errors.New("string result exceeds the length limit")
)

// evalCtx is the state of one evaluation. It lives for one call (and is
// then recycled through a pool); it is never shared between goroutines.
type evalCtx struct {
	opt      *Options
	model    Model
	this     []Item // $this: the focus of the current scope
	index    int    // $index, -1 outside an iteration
	total    []Item // $total inside aggregate()
	context  []Item // %context: the evaluation input
	resource []Item // %resource, computed on first use
	resSet   bool
	now      time.Time
	work     int
	root     [1]Item // backing store for a single input value
	arena    []Item  // small result slices; see items
}

// Small result slices come from an arena allocated lazily per evaluation,
// in chunks that double from the first request up to arenaChunk items. The arena
// is never recycled (releaseCtx drops it), so results handed to the caller
// may point into it.
const (
	arenaChunk    = 64
	arenaMaxSlice = 4
)

// items returns an empty slice with capacity n for a result.
func (c *evalCtx) items(n int) []Item {
	if n > arenaMaxSlice || n <= 0 {
		return make([]Item, 0, n)
	}
	if cap(c.arena)-len(c.arena) < n {
		c.arena = make([]Item, 0, max(n, min(2*cap(c.arena), arenaChunk)))
	}
	l := len(c.arena)
	c.arena = c.arena[:l+n]
	return c.arena[l : l : l+n]
}

// shrink gives the unused capacity of the arena's last slice back.
func (c *evalCtx) shrink(out []Item) []Item {
	n := cap(out)
	if n == 0 || n == len(out) || len(c.arena) < n || &c.arena[len(c.arena)-n] != &out[:n][0] {
		return out
	}
	c.arena = c.arena[:len(c.arena)-n+len(out)]
	if len(out) == 0 {
		return nil
	}
	return out[:len(out):len(out)]
}

// node is a compiled expression. eval applies it to the collection in: for
// an invocation after '.', in is the result of the left side; elsewhere in
// is the focus of the current scope (c.this). Implementations never modify
// the slices they receive or return.
type node interface {
	eval(c *evalCtx, in []Item) ([]Item, error)
}

// compare charges n pairwise comparisons against the work limit (a
// comparison costs a sixteenth of an item).
func (c *evalCtx) compare(n int) error {
	return c.spend(n / 16)
}

// spend charges n produced items against the work limit.
func (c *evalCtx) spend(n int) error {
	c.work += n
	if c.work > maxWork {
		return errWorkLimit
	}
	return nil
}

func (c *evalCtx) clock() time.Time {
	if c.now.IsZero() {
		if !c.opt.Now.IsZero() {
			c.now = c.opt.Now
		} else {
			c.now = time.Now()
		}
	}
	return c.now
}

func (c *evalCtx) resourceItems() []Item {
	if !c.resSet {
		c.resSet = true
		if c.opt.Resource != nil {
			c.resource = itemsOf(c.opt.Resource)
		} else {
			c.resource = c.context
		}
	}
	return c.resource
}

// literalNode is a constant collection computed at compile time.
type literalNode struct{ items []Item }

func (n *literalNode) eval(*evalCtx, []Item) ([]Item, error) { return n.items, nil }

// identNode navigates to the children called name of every input item. An
// upper-case name that is the type of an item (or one of its base types)
// selects the item itself, so Patient.name works on a Patient.
type identNode struct {
	name    string
	upper   bool // starts with an upper-case letter: may be a type name
	builtin bool // a FHIR R4 type name
	leaf    bool // a FHIR R4 type no other type derives from
}

func (n *identNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if n.upper && len(in) == 1 && c.isTypeOrBase(in[0], n.name, n.leaf) {
		return in, nil // Patient.… on a Patient: the common first step
	}
	out := c.items(min(2*len(in)-1, arenaMaxSlice))
	undefined := 0
	for _, it := range in {
		if n.upper {
			if c.isTypeOrBase(it, n.name, n.leaf) {
				out = append(out, it)
				continue
			}
			if c.isTypeName(n.name, n.builtin) {
				continue // a type filter that does not match
			}
		}
		var u bool
		if out, u = c.child(out, it, n.name); u {
			undefined++
		}
	}
	if undefined == len(in) {
		// No item's type defines the element: a semantic error (the
		// element is misspelt, or a choice is written valueQuantity). In a
		// mixed collection (descendants()) other items may define it.
		return nil, &evalError{msg: fmt.Sprintf("%s has no element %q", in[0].Type, truncate(n.name))}
	}
	return c.shrink(out), c.spend(len(out))
}

// thisNode is $this.
type thisNode struct{}

func (thisNode) eval(c *evalCtx, _ []Item) ([]Item, error) { return c.this, nil }

// indexVarNode is $index.
type indexVarNode struct{}

func (indexVarNode) eval(c *evalCtx, _ []Item) ([]Item, error) {
	if c.index < 0 {
		return nil, nil
	}
	return []Item{{Value: int64(c.index), Type: typeInteger}}, nil
}

// totalNode is $total.
type totalNode struct{}

func (totalNode) eval(c *evalCtx, _ []Item) ([]Item, error) { return c.total, nil }

// varNode is an external constant resolved at evaluation time: %resource,
// %rootResource, %context or a caller variable.
type varNode struct{ name string }

func (n *varNode) eval(c *evalCtx, _ []Item) ([]Item, error) {
	switch n.name {
	case "resource", "rootResource":
		return c.resourceItems(), nil
	case "context":
		return c.context, nil
	}
	if v, ok := c.opt.Vars[n.name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("undefined variable %%%s", truncate(n.name))
}

// dotNode evaluates right on the result of left.
type dotNode struct{ left, right node }

func (n *dotNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	l, err := n.left.eval(c, in)
	if err != nil {
		return nil, err
	}
	return n.right.eval(c, l)
}

// indexerNode is coll[index].
type indexerNode struct{ coll, index node }

func (n *indexerNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	coll, err := n.coll.eval(c, in)
	if err != nil || len(coll) == 0 {
		return nil, err
	}
	idx, err := n.index.eval(c, c.this)
	if err != nil {
		return nil, err
	}
	i, ok, err := singletonInteger(idx, "indexer")
	if err != nil || !ok {
		return nil, err
	}
	if i < 0 || i >= int64(len(coll)) {
		return nil, nil
	}
	return coll[i : i+1], nil
}

// withScope evaluates fn with $this set to in[i:i+1] and $index to i,
// restoring the previous scope afterwards.
func (c *evalCtx) withScope(in []Item, i int, fn node) ([]Item, error) {
	saveThis, saveIndex := c.this, c.index
	c.this, c.index = in[i:i+1], i
	r, err := fn.eval(c, c.this)
	c.this, c.index = saveThis, saveIndex
	return r, err
}

// singletonInteger reads an Integer argument; ok is false when empty.
func singletonInteger(items []Item, what string) (int64, bool, error) {
	if len(items) == 0 {
		return 0, false, nil
	}
	if len(items) > 1 {
		return 0, false, fmt.Errorf("%s: expected a single integer, got %d items", what, len(items))
	}
	v := sysOf(items[0])
	if v.k != kInt {
		return 0, false, fmt.Errorf("%s: expected an integer, got %s", what, typeName(items[0]))
	}
	return v.i, true, nil
}

// singletonString reads a String argument; ok is false when empty.
func singletonString(items []Item, what string) (string, bool, error) {
	if len(items) == 0 {
		return "", false, nil
	}
	if len(items) > 1 {
		return "", false, fmt.Errorf("%s: expected a single string, got %d items", what, len(items))
	}
	v := sysOf(items[0])
	if v.k != kStr {
		return "", false, fmt.Errorf("%s: expected a string, got %s", what, typeName(items[0]))
	}
	return v.s, true, nil
}

// singletonBool applies singleton evaluation for a Boolean context: empty
// is undefined, a Boolean is itself, any other single item is true, and
// several items are an error.
func singletonBool(items []Item, what string) (bool, bool, error) {
	switch len(items) {
	case 0:
		return false, false, nil
	case 1:
		if items[0].Value == nil {
			return false, false, nil
		}
		if b, ok := items[0].Value.(bool); ok {
			return b, true, nil
		}
		return true, true, nil
	}
	return false, false, fmt.Errorf("%s: expected a single boolean, got %d items", what, len(items))
}

var (
	trueItems  = []Item{{Value: true, Type: typeBoolean}}
	falseItems = []Item{{Value: false, Type: typeBoolean}}
)

// boolItems returns a shared one-Boolean collection; callers never modify
// results, so sharing is safe.
func boolItems(b bool) []Item {
	if b {
		return trueItems
	}
	return falseItems
}
