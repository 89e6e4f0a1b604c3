package fhirpath

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"time"
)

// funcImpl implements a function: in is its input collection; arguments
// are evaluated on demand through f.
type funcImpl func(c *evalCtx, f *funcNode, in []Item) ([]Item, error)

// funcDef describes a function: its arity and implementation.
type funcDef struct {
	name     string
	min, max int
	impl     funcImpl
	typeArg  bool // the argument is a type specifier (is, as, ofType)
}

// funcNode is a compiled function call.
type funcNode struct {
	def  *funcDef
	args []node
	ts   *typeSpec      // is, as, ofType
	re   *regexp.Regexp // matches, matchesFull, replaceMatches with a literal pattern
	desc []bool         // sort: descending keys
}

func (f *funcNode) eval(c *evalCtx, in []Item) ([]Item, error) {
	if err := c.spend(1 + len(in)); err != nil {
		return nil, err
	}
	out, err := f.def.impl(c, f, in)
	if err != nil {
		return nil, fmt.Errorf("%s(): %w", f.def.name, err)
	}
	return out, nil
}

// arg evaluates argument i in the enclosing scope (not per input item).
func (f *funcNode) arg(c *evalCtx, i int) ([]Item, error) {
	return f.args[i].eval(c, c.this)
}

// functions is the function table, by name.
var functions map[string]*funcDef

func init() {
	defs := []*funcDef{
		// Existence.
		{name: "empty", impl: fnEmpty},
		{name: "exists", max: 1, impl: fnExists},
		{name: "all", min: 1, max: 1, impl: fnAll},
		{name: "allTrue", impl: boolAggregate(true, true)},
		{name: "anyTrue", impl: boolAggregate(false, true)},
		{name: "allFalse", impl: boolAggregate(true, false)},
		{name: "anyFalse", impl: boolAggregate(false, false)},
		{name: "subsetOf", min: 1, max: 1, impl: fnSubsetOf},
		{name: "supersetOf", min: 1, max: 1, impl: fnSupersetOf},
		{name: "count", impl: fnCount},
		{name: "distinct", impl: fnDistinct},
		{name: "isDistinct", impl: fnIsDistinct},
		// Filtering and projection.
		{name: "where", min: 1, max: 1, impl: fnWhere},
		{name: "select", min: 1, max: 1, impl: fnSelect},
		{name: "repeat", min: 1, max: 1, impl: fnRepeat},
		{name: "ofType", min: 1, max: 1, impl: fnOfType, typeArg: true},
		// Subsetting.
		{name: "single", impl: fnSingle},
		{name: "first", impl: fnFirst},
		{name: "last", impl: fnLast},
		{name: "tail", impl: fnTail},
		{name: "skip", min: 1, max: 1, impl: fnSkip},
		{name: "take", min: 1, max: 1, impl: fnTake},
		{name: "intersect", min: 1, max: 1, impl: fnIntersect},
		{name: "exclude", min: 1, max: 1, impl: fnExclude},
		// Combining.
		{name: "union", min: 1, max: 1, impl: fnUnion},
		{name: "combine", min: 1, max: 1, impl: fnCombine},
		// Conversion.
		{name: "iif", min: 2, max: 3, impl: fnIif},
		{name: "toBoolean", impl: convert(toBoolean, false)},
		{name: "convertsToBoolean", impl: convert(toBoolean, true)},
		{name: "toInteger", impl: convert(toInteger, false)},
		{name: "convertsToInteger", impl: convert(toInteger, true)},
		{name: "toDecimal", impl: convert(toDecimal, false)},
		{name: "convertsToDecimal", impl: convert(toDecimal, true)},
		{name: "toString", impl: convert(toStringItem, false)},
		{name: "convertsToString", impl: convert(toStringItem, true)},
		{name: "toDate", impl: convert(toDate, false)},
		{name: "convertsToDate", impl: convert(toDate, true)},
		{name: "toDateTime", impl: convert(toDateTime, false)},
		{name: "convertsToDateTime", impl: convert(toDateTime, true)},
		{name: "toTime", impl: convert(toTime, false)},
		{name: "convertsToTime", impl: convert(toTime, true)},
		{name: "toQuantity", max: 1, impl: fnToQuantity(false)},
		{name: "convertsToQuantity", max: 1, impl: fnToQuantity(true)},
		// Strings.
		{name: "indexOf", min: 1, max: 1, impl: fnIndexOf},
		{name: "substring", min: 1, max: 2, impl: fnSubstring},
		{name: "startsWith", min: 1, max: 1, impl: fnStartsWith},
		{name: "endsWith", min: 1, max: 1, impl: fnEndsWith},
		{name: "contains", min: 1, max: 1, impl: fnContainsString},
		{name: "upper", impl: fnUpper},
		{name: "lower", impl: fnLower},
		{name: "replace", min: 2, max: 2, impl: fnReplace},
		{name: "matches", min: 1, max: 1, impl: fnMatches(false)},
		{name: "matchesFull", min: 1, max: 1, impl: fnMatches(true)},
		{name: "replaceMatches", min: 2, max: 2, impl: fnReplaceMatches},
		{name: "length", impl: fnLength},
		{name: "toChars", impl: fnToChars},
		{name: "split", min: 1, max: 1, impl: fnSplit},
		{name: "join", max: 1, impl: fnJoin},
		{name: "trim", impl: fnTrim},
		{name: "encode", min: 1, max: 1, impl: fnEncode},
		{name: "decode", min: 1, max: 1, impl: fnDecode},
		{name: "escape", min: 1, max: 1, impl: fnEscape},
		{name: "unescape", min: 1, max: 1, impl: fnUnescape},
		// Math.
		{name: "abs", impl: fnAbs},
		{name: "ceiling", impl: decimalFunc(decimal.ceiling)},
		{name: "floor", impl: decimalFunc(decimal.floor)},
		{name: "truncate", impl: decimalFunc(decimal.truncate)},
		{name: "exp", impl: floatFunc(expFloat)},
		{name: "ln", impl: floatFunc(lnFloat)},
		{name: "sqrt", impl: floatFunc(sqrtFloat)},
		{name: "log", min: 1, max: 1, impl: fnLog},
		{name: "power", min: 1, max: 1, impl: fnPower},
		{name: "round", max: 1, impl: fnRound},
		{name: "lowBoundary", max: 1, impl: fnBoundary(false)},
		{name: "highBoundary", max: 1, impl: fnBoundary(true)},
		{name: "precision", impl: fnPrecision},
		{name: "comparable", min: 1, max: 1, impl: fnComparable},
		// Tree navigation.
		{name: "children", impl: fnChildren},
		{name: "descendants", impl: fnDescendants},
		// Utility.
		{name: "trace", min: 1, max: 2, impl: fnTrace},
		{name: "now", impl: fnNow},
		{name: "today", impl: fnToday},
		{name: "timeOfDay", impl: fnTimeOfDay},
		{name: "not", impl: fnNot},
		{name: "aggregate", min: 1, max: 2, impl: fnAggregate},
		{name: "sort", max: 8, impl: fnSort},
		// Types.
		{name: "is", min: 1, max: 1, impl: fnIs, typeArg: true},
		{name: "as", min: 1, max: 1, impl: fnAs, typeArg: true},
		{name: "type", impl: fnType},
		// FHIR additions.
		{name: "extension", min: 1, max: 1, impl: fnExtension},
		{name: "hasValue", impl: fnHasValue},
		{name: "getValue", impl: fnGetValue},
		{name: "resolve", impl: fnResolve},
		{name: "memberOf", min: 1, max: 1, impl: fnMemberOf},
		{name: "conformsTo", min: 1, max: 1, impl: fnConformsTo},
		{name: "htmlChecks", impl: fnHTMLChecks},
		{name: "htmlchecks", impl: fnHTMLChecks},
	}
	functions = make(map[string]*funcDef, len(defs))
	for _, d := range defs {
		functions[d.name] = d
	}
}

func fnEmpty(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	return boolItems(len(in) == 0), nil
}

func fnExists(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if len(f.args) == 0 {
		return boolItems(len(in) > 0), nil
	}
	for i := range in {
		r, err := c.withScope(in, i, f.args[0])
		if err != nil {
			return nil, err
		}
		b, ok, err := singletonBool(r, "criteria")
		if err != nil {
			return nil, err
		}
		if ok && b {
			return trueItems, nil
		}
	}
	return falseItems, nil
}

func fnAll(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	for i := range in {
		r, err := c.withScope(in, i, f.args[0])
		if err != nil {
			return nil, err
		}
		b, ok, err := singletonBool(r, "criteria")
		if err != nil {
			return nil, err
		}
		if !ok || !b {
			return falseItems, nil
		}
	}
	return trueItems, nil
}

// boolAggregate builds allTrue (all, true), anyTrue (any, true), allFalse
// and anyFalse. Every item must be a Boolean.
func boolAggregate(all, want bool) funcImpl {
	return func(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
		for _, it := range in {
			v := sysOf(it)
			if v.k != kBool {
				return nil, fmt.Errorf("expected Booleans, got %s", typeName(it))
			}
			if all && v.b != want {
				return falseItems, nil
			}
			if !all && v.b == want {
				return trueItems, nil
			}
		}
		return boolItems(all), nil
	}
}

func fnSubsetOf(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	other, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	return c.subset(in, other)
}

func fnSupersetOf(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	other, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	return c.subset(other, in)
}

func (c *evalCtx) subset(a, b []Item) ([]Item, error) {
	for _, it := range a {
		ok, err := c.contains(b, it)
		if err != nil || !ok {
			return boolItems(ok), err
		}
	}
	return trueItems, nil
}

func fnCount(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	return []Item{{Value: int64(len(in)), Type: typeInteger}}, nil
}

func fnDistinct(c *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	return c.distinct(in)
}

func fnIsDistinct(c *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	d, err := c.distinct(in)
	if err != nil {
		return nil, err
	}
	return boolItems(len(d) == len(in)), nil
}

func fnWhere(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	out := c.items(min(len(in), arenaMaxSlice))
	for i := range in {
		r, err := c.withScope(in, i, f.args[0])
		if err != nil {
			return nil, err
		}
		b, ok, err := singletonBool(r, "criteria")
		if err != nil {
			return nil, err
		}
		if ok && b {
			out = append(out, in[i])
		}
	}
	return c.shrink(out), c.spend(len(out))
}

func fnSelect(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if len(in) == 1 {
		return c.withScope(in, 0, f.args[0])
	}
	var out []Item
	for i := range in {
		r, err := c.withScope(in, i, f.args[0])
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
		if err := c.spend(len(r)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fnRepeat applies the projection to the input, then to its results, until
// no new items appear. Data objects are compared by identity, other values
// by '='.
func fnRepeat(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	var out []Item
	seenObj := map[uintptr]bool{}
	queue := in
	for len(queue) > 0 {
		var next []Item
		for i := range queue {
			r, err := c.withScope(queue, i, f.args[0])
			if err != nil {
				return nil, err
			}
			if err := c.spend(len(r)); err != nil {
				return nil, err
			}
			for _, it := range r {
				if m, ok := it.Value.(map[string]any); ok {
					id := reflect.ValueOf(m).Pointer()
					if seenObj[id] {
						continue
					}
					seenObj[id] = true
				} else if dup, err := c.contains(out, it); err != nil {
					return nil, err
				} else if dup {
					continue
				}
				out = append(out, it)
				next = append(next, it)
			}
		}
		queue = next
	}
	return out, nil
}

func fnOfType(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if err := f.ts.check(c); err != nil {
		return nil, err
	}
	return filterType(c, in, f.ts), nil
}

func fnSingle(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) > 1 {
		return nil, fmt.Errorf("expected at most one item, got %d", len(in))
	}
	return in, nil
}

func fnFirst(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) == 0 {
		return nil, nil
	}
	return in[:1:1], nil
}

func fnLast(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) == 0 {
		return nil, nil
	}
	return in[len(in)-1:], nil
}

func fnTail(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) <= 1 {
		return nil, nil
	}
	return in[1:], nil
}

func fnSkip(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	n, ok, err := intArg(c, f, 0)
	if err != nil || !ok {
		return nil, err
	}
	if n <= 0 {
		return in, nil
	}
	if n >= int64(len(in)) {
		return nil, nil
	}
	return in[n:], nil
}

func fnTake(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	n, ok, err := intArg(c, f, 0)
	if err != nil || !ok || n <= 0 {
		return nil, err
	}
	if n >= int64(len(in)) {
		return in, nil
	}
	return in[:n:n], nil
}

func intArg(c *evalCtx, f *funcNode, i int) (int64, bool, error) {
	v, err := f.arg(c, i)
	if err != nil {
		return 0, false, err
	}
	return singletonInteger(v, "argument")
}

func fnIntersect(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	other, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	var out []Item
	for _, it := range in {
		ok, err := c.contains(other, it)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return c.distinct(out)
}

func fnExclude(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	other, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	var out []Item
	for _, it := range in {
		ok, err := c.contains(other, it)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, it)
		}
	}
	return out, nil
}

func fnUnion(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	other, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	all := make([]Item, 0, len(in)+len(other))
	all = append(append(all, in...), other...)
	return c.distinct(all)
}

func fnCombine(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	other, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return other, nil
	}
	if len(other) == 0 {
		return in, nil
	}
	all := make([]Item, 0, len(in)+len(other))
	return append(append(all, in...), other...), c.spend(len(all))
}

// fnIif evaluates its criterion and the chosen branch with the input (at
// most one item) as $this. The criterion must be empty or a Boolean.
func fnIif(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if len(in) > 1 {
		return nil, fmt.Errorf("expected at most one input item, got %d", len(in))
	}
	saveThis := c.this
	c.this = in
	defer func() { c.this = saveThis }()
	crit, err := f.args[0].eval(c, in)
	if err != nil {
		return nil, err
	}
	cond := false
	switch len(crit) {
	case 0:
	case 1:
		v := sysOf(crit[0])
		if v.k != kBool && v.k != kNone {
			return nil, fmt.Errorf("criterion must be a Boolean, got %s", typeName(crit[0]))
		}
		cond = v.k == kBool && v.b
	default:
		return nil, fmt.Errorf("criterion must be a single Boolean, got %d items", len(crit))
	}
	if cond {
		return f.args[1].eval(c, in)
	}
	if len(f.args) == 3 {
		return f.args[2].eval(c, in)
	}
	return nil, nil
}

func fnNot(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	b, ok, err := singletonBool(in, "input")
	if err != nil || !ok {
		return nil, err
	}
	return boolItems(!b), nil
}

func fnTrace(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	return in, nil // tracing has no sink here: the input passes through
}

func fnNow(c *evalCtx, _ *funcNode, _ []Item) ([]Item, error) {
	return []Item{{Value: fromGoTime(c.clock(), PrecisionMillisecond, true), Type: typeDateTime}}, nil
}

func fnToday(c *evalCtx, _ *funcNode, _ []Item) ([]Item, error) {
	return []Item{{Value: fromGoTime(c.clock(), PrecisionDay, false).date(), Type: typeDate}}, nil
}

func fnTimeOfDay(c *evalCtx, _ *funcNode, _ []Item) ([]Item, error) {
	t := c.clock()
	return []Item{{Value: Time{Hour: t.Hour(), Minute: t.Minute(), Second: t.Second(),
		Nanosecond: t.Nanosecond() / int(time.Millisecond) * int(time.Millisecond), Precision: PrecisionMillisecond}, Type: typeTime}}, nil
}

func fnChildren(c *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	var out []Item
	for _, it := range in {
		out = c.children(out, it)
	}
	return out, c.spend(len(out))
}

func fnDescendants(c *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	return c.descendants(in)
}

// fnAggregate folds the input with $total, starting from the optional
// initial value.
func fnAggregate(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	var total []Item
	if len(f.args) == 2 {
		init, err := f.arg(c, 1)
		if err != nil {
			return nil, err
		}
		total = init
	}
	saveTotal := c.total
	defer func() { c.total = saveTotal }()
	for i := range in {
		c.total = total
		r, err := c.withScope(in, i, f.args[0])
		if err != nil {
			return nil, err
		}
		if err := c.spend(len(r) + 1); err != nil {
			return nil, err
		}
		total = r
	}
	return total, nil
}

// fnSort orders the input by its own values, or by the key expressions
// (a key written -expr sorts descending). Items with an empty key sort
// first.
func fnSort(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if len(in) < 2 {
		return in, nil
	}
	nk := max(len(f.args), 1)
	keys := make([]sval, len(in)*nk)
	for i := range in {
		if len(f.args) == 0 {
			keys[i] = sysOf(in[i])
			continue
		}
		for k, key := range f.args {
			r, err := c.withScope(in, i, key)
			if err != nil {
				return nil, err
			}
			switch len(r) {
			case 0:
				keys[i*nk+k] = sval{k: kNone}
			case 1:
				keys[i*nk+k] = sysOf(r[0])
			default:
				return nil, fmt.Errorf("sort key must be a single item, got %d", len(r))
			}
		}
	}
	idx := make([]int, len(in))
	for i := range idx {
		idx[i] = i
	}
	var sortErr error
	sort.SliceStable(idx, func(x, y int) bool {
		a, b := idx[x], idx[y]
		for k := 0; k < nk; k++ {
			ka, kb := keys[a*nk+k], keys[b*nk+k]
			switch {
			case ka.k == kNone && kb.k == kNone:
				continue
			case ka.k == kNone:
				return true
			case kb.k == kNone:
				return false
			}
			r, ok, err := compareVals(ka, kb)
			if err != nil && sortErr == nil {
				sortErr = err
			}
			if !ok || r == 0 {
				continue
			}
			if k < len(f.desc) && f.desc[k] {
				r = -r
			}
			return r < 0
		}
		return false
	})
	if sortErr != nil {
		return nil, sortErr
	}
	out := make([]Item, len(in))
	for i, j := range idx {
		out[i] = in[j]
	}
	return out, nil
}

func fnIs(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if err := f.ts.check(c); err != nil {
		return nil, err
	}
	return isType(c, in, f.ts)
}

// fnAs is the as() function: unlike the as operator it requires at most
// one input item, as the specification says.
func fnAs(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	if err := f.ts.check(c); err != nil {
		return nil, err
	}
	if len(in) > 1 {
		return nil, fmt.Errorf("expected at most one item, got %d", len(in))
	}
	return filterType(c, in, f.ts), nil
}

func fnType(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	out := make([]Item, len(in))
	for i, it := range in {
		out[i] = typeInfo(it)
	}
	return out, nil
}
