package fhirpath

import (
	"fmt"
	"math"
	"math/big"
)

// opKind is a binary operator.
type opKind uint8

const (
	opImplies opKind = iota
	opOr
	opXor
	opAnd
	opIn
	opContains
	opEq
	opEquiv
	opNe
	opNotEquiv
	opLt
	opGt
	opLe
	opGe
	opUnion
	opAdd
	opSub
	opConcat
	opMul
	opDiv
	opIntDiv
	opMod
)

// binaryOps maps operator symbols and keywords to their kind and
// precedence (higher binds tighter).
var binaryOps = map[string]struct {
	op   opKind
	prec int
}{
	"implies": {opImplies, 1},
	"or":      {opOr, 2}, "xor": {opXor, 2},
	"and": {opAnd, 3},
	"in":  {opIn, 4}, "contains": {opContains, 4},
	"=": {opEq, 5}, "~": {opEquiv, 5}, "!=": {opNe, 5}, "!~": {opNotEquiv, 5},
	"<": {opLt, 6}, ">": {opGt, 6}, "<=": {opLe, 6}, ">=": {opGe, 6},
	"|":  {opUnion, 7},
	"is": {0, 8}, "as": {0, 8}, // type operators, handled by the parser
	"+": {opAdd, 9}, "-": {opSub, 9}, "&": {opConcat, 9},
	"*": {opMul, 10}, "/": {opDiv, 10}, "div": {opIntDiv, 10}, "mod": {opMod, 10},
}

// binaryNode is a binary operator application.
type binaryNode struct {
	op          opKind
	sym         string
	left, right node
}

func (n *binaryNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	switch n.op {
	case opAnd, opOr, opXor, opImplies:
		if err := c.spend(1); err != nil {
			return nil, err
		}
		return n.logic(c, in)
	}
	l, err := n.left.eval(c, in)
	if err != nil {
		return nil, err
	}
	r, err := n.right.eval(c, in)
	if err != nil {
		return nil, err
	}
	if err := c.spend(1 + len(l) + len(r)); err != nil {
		return nil, err
	}
	out, err := n.apply(c, l, r)
	if err != nil {
		return nil, fmt.Errorf("operator %s: %w", n.sym, err)
	}
	return out, nil
}

func (n *binaryNode) apply(c *evalCtx, l, r []Item) ([]Item, error) {
	switch n.op {
	case opUnion:
		if len(l) == 0 {
			return c.distinct(r)
		}
		if len(r) == 0 {
			return c.distinct(l)
		}
		all := c.items(len(l) + len(r))
		all = append(append(all, l...), r...)
		return c.distinct(all)
	case opEq, opNe:
		eq, ok := equalCollections(l, r)
		if !ok {
			return nil, nil
		}
		return boolItems(eq == (n.op == opEq)), nil
	case opEquiv, opNotEquiv:
		if err := c.compare(len(l) * len(r)); err != nil {
			return nil, err
		}
		return boolItems(equivalentCollections(l, r) == (n.op == opEquiv)), nil
	case opIn:
		return membership(l, r)
	case opContains:
		return membership(r, l)
	case opLt, opGt, opLe, opGe:
		return compareOp(n.op, l, r)
	case opConcat:
		return concat(l, r)
	}
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, fmt.Errorf("expected single operands, got %d and %d items", len(l), len(r))
	}
	it, ok, err := arithmetic(n.op, sysOf(l[0]), sysOf(r[0]))
	if err != nil || !ok {
		return nil, err
	}
	return []Item{it}, nil
}

// logic implements and, or, xor and implies with three-valued logic,
// skipping the right operand when the left decides the result.
func (n *binaryNode) logic(c *evalCtx, in []Item) ([]Item, error) {
	l, err := n.left.eval(c, in)
	if err != nil {
		return nil, err
	}
	lb, ld, err := singletonBool(l, n.sym)
	if err != nil {
		return nil, err
	}
	switch {
	case n.op == opAnd && ld && !lb:
		return falseItems, nil
	case n.op == opOr && ld && lb:
		return trueItems, nil
	case n.op == opImplies && ld && !lb:
		return trueItems, nil
	}
	r, err := n.right.eval(c, in)
	if err != nil {
		return nil, err
	}
	rb, rd, err := singletonBool(r, n.sym)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case opAnd:
		if rd && !rb {
			return falseItems, nil
		}
		if ld && rd {
			return trueItems, nil
		}
	case opOr:
		if rd && rb {
			return trueItems, nil
		}
		if ld && rd {
			return falseItems, nil
		}
	case opXor:
		if ld && rd {
			return boolItems(lb != rb), nil
		}
	case opImplies:
		if rd && rb {
			return trueItems, nil
		}
		if ld && rd {
			return falseItems, nil
		}
	}
	return nil, nil
}

// equalCollections implements '=' on collections: ok is false when the
// result is empty (an empty operand, or an undefined item comparison).
func equalCollections(a, b []Item) (eq, ok bool) {
	if len(a) == 0 || len(b) == 0 {
		return false, false
	}
	if len(a) != len(b) {
		return false, true
	}
	defined := true
	for i := range a {
		e, d := equalVals(sysOf(a[i]), sysOf(b[i]))
		if d && !e {
			return false, true
		}
		defined = defined && d
	}
	return defined, defined
}

// equivalentCollections implements '~': order does not matter.
func equivalentCollections(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 1 {
		return equivalentVals(sysOf(a[0]), sysOf(b[0]))
	}
	used := make([]bool, len(b))
outer:
	for i := range a {
		va := sysOf(a[i])
		for j := range b {
			if !used[j] && equivalentVals(va, sysOf(b[j])) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// membership implements 'x in coll'.
func membership(x, coll []Item) ([]Item, error) {
	if len(x) == 0 {
		return nil, nil
	}
	if len(x) > 1 {
		return nil, fmt.Errorf("expected a single item, got %d", len(x))
	}
	v := sysOf(x[0])
	for _, it := range coll {
		if eq, ok := equalVals(v, sysOf(it)); ok && eq {
			return trueItems, nil
		}
	}
	return falseItems, nil
}

func compareOp(op opKind, l, r []Item) ([]Item, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, fmt.Errorf("expected single operands, got %d and %d items", len(l), len(r))
	}
	c, ok, err := compareVals(sysOf(l[0]), sysOf(r[0]))
	if err != nil || !ok {
		return nil, err
	}
	switch op {
	case opLt:
		return boolItems(c < 0), nil
	case opGt:
		return boolItems(c > 0), nil
	case opLe:
		return boolItems(c <= 0), nil
	}
	return boolItems(c >= 0), nil
}

// concat implements '&': strings, with empty operands taken as ”.
func concat(l, r []Item) ([]Item, error) {
	if len(l) > 1 || len(r) > 1 {
		return nil, fmt.Errorf("expected single operands, got %d and %d items", len(l), len(r))
	}
	var a, b string
	for i, side := range [2][]Item{l, r} {
		if len(side) == 0 {
			continue
		}
		v := sysOf(side[0])
		if v.k != kStr && v.k != kNone {
			return nil, fmt.Errorf("expected strings, got %s", typeName(side[0]))
		}
		if i == 0 {
			a = v.s
		} else {
			b = v.s
		}
	}
	if len(a)+len(b) > maxStringLength {
		return nil, errStringLimit
	}
	return []Item{{Value: a + b, Type: typeString}}, nil
}

// arithmetic applies + - * / div mod to single values. ok is false for an
// empty result (division by zero, overflow).
func arithmetic(op opKind, a, b sval) (Item, bool, error) {
	switch {
	case a.k == kInt && b.k == kInt:
		return intArithmetic(op, a.i, b.i)
	case isNumeric(a.k) && isNumeric(b.k):
		da, ok1 := a.dec()
		db, ok2 := b.dec()
		if !ok1 || !ok2 {
			return Item{}, false, nil
		}
		return decArithmetic(op, da, db)
	case a.k == kStr && b.k == kStr && op == opAdd:
		if len(a.s)+len(b.s) > maxStringLength {
			return Item{}, false, errStringLimit
		}
		return Item{Value: a.s + b.s, Type: typeString}, true, nil
	case (isDateKind(a.k) || a.k == kTime) && b.k == kQty && (op == opAdd || op == opSub):
		return dateArithmetic(op, a, b.qty())
	case a.k == kQty && b.k == kQty:
		return quantityArithmetic(op, a.qty(), b.qty())
	case a.k == kQty && isNumeric(b.k) && (op == opMul || op == opDiv):
		db, _ := b.dec()
		return quantityArithmetic(op, a.qty(), Quantity{Value: db.number(), Unit: "1"})
	case isNumeric(a.k) && b.k == kQty && op == opMul:
		da, _ := a.dec()
		return quantityArithmetic(op, Quantity{Value: da.number(), Unit: "1"}, b.qty())
	}
	return Item{}, false, &evalError{msg: "cannot apply to " + kindName(a.k) + " and " + kindName(b.k)}
}

func intArithmetic(op opKind, a, b int64) (Item, bool, error) {
	var r int64
	switch op {
	case opAdd:
		r = a + b
		if (r > a) != (b > 0) {
			return Item{}, false, nil
		}
	case opSub:
		r = a - b
		if (r < a) != (b > 0) {
			return Item{}, false, nil
		}
	case opMul:
		if a != 0 && b != 0 {
			r = a * b
			if r/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
				return Item{}, false, nil
			}
		}
	case opDiv:
		return decArithmetic(op, decFromInt(a), decFromInt(b))
	case opIntDiv:
		if b == 0 || a == math.MinInt64 && b == -1 {
			return Item{}, false, nil
		}
		r = a / b
	case opMod:
		if b == 0 {
			return Item{}, false, nil
		}
		if b == -1 {
			r = 0
		} else {
			r = a % b
		}
	}
	return Item{Value: r, Type: typeInteger}, true, nil
}

func decArithmetic(op opKind, a, b decimal) (Item, bool, error) {
	var r decimal
	switch op {
	case opAdd:
		r = a.add(b)
	case opSub:
		r = a.sub(b)
	case opMul:
		r = a.mul(b)
	case opDiv:
		q, ok := a.quo(b)
		if !ok {
			return Item{}, false, nil
		}
		r = q
	case opIntDiv, opMod:
		if b.sign() == 0 {
			return Item{}, false, nil
		}
		q := new(big.Rat).Quo(a.rat(), b.rat())
		t := new(big.Int).Quo(q.Num(), q.Denom()) // truncated
		if op == opIntDiv {
			if t.IsInt64() {
				return Item{Value: t.Int64(), Type: typeInteger}, true, nil
			}
			r = decimal{unscaled: t}
			break
		}
		r = a.sub(b.mul(decimal{unscaled: t}))
	}
	if r.tooBig() {
		return Item{}, false, &evalError{msg: "decimal result out of range"}
	}
	return Item{Value: r.number(), Type: typeDecimal}, true, nil
}

// dateArithmetic adds or subtracts a time-valued quantity. The quantity's
// value is truncated to an integer; UCUM 'a' and 'mo' are refused because
// they have no calendar meaning.
func dateArithmetic(op opKind, a sval, q Quantity) (Item, bool, error) {
	u, ok := arithmeticUnit(q.Unit)
	if !ok {
		return Item{}, false, &evalError{msg: "cannot add a quantity to a date or time unless its unit is a calendar duration or wk, d, h, min, s, ms"}
	}
	d, ok := parseDecimal(string(q.Value))
	if !ok {
		return Item{}, false, nil
	}
	n, ok := d.truncate().int64()
	if !ok {
		return Item{}, false, nil
	}
	if op == opSub {
		n = -n
	}
	switch a.k {
	case kTime:
		t, ok := addTime(a.tm(), n, u)
		if !ok {
			return Item{}, false, &evalError{msg: "cannot add a calendar duration to a time"}
		}
		return Item{Value: t, Type: typeTime}, true, nil
	case kDate:
		r, ok := addDuration(a.dt, n, u)
		if !ok {
			return Item{}, false, nil
		}
		return Item{Value: r.date(), Type: typeDate}, true, nil
	}
	r, ok := addDuration(a.dt, n, u)
	if !ok {
		return Item{}, false, nil
	}
	return Item{Value: r, Type: typeDateTime}, true, nil
}

// unaryNode is unary + or -.
type unaryNode struct {
	neg     bool
	operand node
}

func (n *unaryNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	v, err := n.operand.eval(c, in)
	if err != nil || len(v) == 0 {
		return nil, err
	}
	if len(v) > 1 {
		return nil, fmt.Errorf("unary %s: expected a single item, got %d", n.sym(), len(v))
	}
	s := sysOf(v[0])
	switch s.k {
	case kInt:
		if !n.neg {
			return []Item{{Value: s.i, Type: typeInteger}}, nil
		}
		if s.i == math.MinInt64 {
			return nil, nil
		}
		return []Item{{Value: -s.i, Type: typeInteger}}, nil
	case kDec:
		d, ok := parseDecimal(s.s)
		if !ok {
			return nil, nil
		}
		if n.neg {
			d = d.neg()
		}
		return []Item{{Value: d.number(), Type: typeDecimal}}, nil
	case kQty:
		d, ok := parseDecimal(string(s.qty().Value))
		if !ok {
			return nil, nil
		}
		if n.neg {
			d = d.neg()
		}
		return []Item{{Value: Quantity{Value: d.number(), Unit: s.qty().Unit}, Type: typeQuantity}}, nil
	}
	return nil, fmt.Errorf("unary %s: expected a number or quantity, got %s", n.sym(), typeName(v[0]))
}

func (n *unaryNode) sym() string {
	if n.neg {
		return "-"
	}
	return "+"
}

// distinct removes later duplicates (by '=') keeping order; without
// duplicates it returns items itself. Pairwise comparisons are charged
// against the work limit.
func (c *evalCtx) distinct(items []Item) ([]Item, error) {
	if len(items) < 2 {
		return items, nil
	}
	if len(items) > 16 {
		return c.distinctHashed(items)
	}
	if err := c.compare(len(items) * len(items) / 2); err != nil {
		return nil, err
	}
	var out []Item // nil until the first duplicate
next:
	for i, it := range items {
		kept := items[:i]
		if out != nil {
			kept = out
		}
		for _, o := range kept {
			if itemsEqual(it, o) {
				if out == nil {
					out = append(make([]Item, 0, len(items)-1), items[:i]...)
				}
				continue next
			}
		}
		if out != nil {
			out = append(out, it)
		}
	}
	if out == nil {
		return items, nil
	}
	return out, nil
}

// distinctHashed is distinct for larger collections: primitive values are
// hashed, others compared pairwise.
func (c *evalCtx) distinctHashed(items []Item) ([]Item, error) {
	out := make([]Item, 0, len(items))
	seen := make(map[string]struct{}, len(items))
	var unhashed []Item
next:
	for _, it := range items {
		v := sysOf(it)
		if key, ok := hashKey(v); ok {
			if _, dup := seen[key]; dup {
				continue
			}
			seen[key] = struct{}{}
			out = append(out, it)
			continue
		}
		if err := c.compare(len(unhashed)); err != nil {
			return nil, err
		}
		for _, o := range unhashed {
			if eq, ok := equalVals(v, sysOf(o)); ok && eq {
				continue next
			}
		}
		unhashed = append(unhashed, it)
		out = append(out, it)
	}
	return out, nil
}

// contains reports whether coll has an item equal to it.
func (c *evalCtx) contains(coll []Item, it Item) (bool, error) {
	if err := c.compare(len(coll)); err != nil {
		return false, err
	}
	for _, o := range coll {
		if itemsEqual(it, o) {
			return true, nil
		}
	}
	return false, nil
}

// itemsEqual reports whether '=' is true for two items, comparing plain
// strings, Booleans and integers directly.
func itemsEqual(a, b Item) bool {
	switch av := a.Value.(type) {
	case string:
		if bv, ok := b.Value.(string); ok && !dateTyped(a.Type) && !dateTyped(b.Type) {
			return av == bv
		}
	case bool:
		if bv, ok := b.Value.(bool); ok {
			return av == bv
		}
	case int64:
		if bv, ok := b.Value.(int64); ok {
			return av == bv
		}
	case map[string]any:
		if bv, ok := b.Value.(map[string]any); ok && !quantityTypes[a.Type] && !quantityTypes[b.Type] {
			return jsonEqual(av, bv, 0, false)
		}
	}
	eq, ok := equalVals(sysOf(a), sysOf(b))
	return ok && eq
}

// dateTyped reports FHIR types whose string values convert to dates and
// times. Two strings compare as strings unless one of them is date-typed
// (an untyped string then converts too).
func dateTyped(t string) bool {
	switch t {
	case "date", "dateTime", "instant", "time":
		return true
	}
	return false
}

// hashKey returns a key such that equal keys mean '=' is true, for the
// kinds where that is easy.
func hashKey(v sval) (string, bool) {
	switch v.k {
	case kBool:
		if v.b {
			return "b1", true
		}
		return "b0", true
	case kInt:
		return "n" + decFromInt(v.i).String(), true
	case kDec:
		d, ok := parseDecimal(v.s)
		if !ok {
			return "", false
		}
		return "n" + d.trim().String(), true
	case kStr:
		return "s" + v.s, true
	}
	return "", false
}
