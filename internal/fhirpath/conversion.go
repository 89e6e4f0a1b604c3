package fhirpath

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// converter converts one item; ok is false when it does not convert.
type converter func(it Item) (Item, bool)

// convert builds toX (test=false) and convertsToX (test=true): both take
// a single item; toX yields the converted value or empty, convertsToX
// whether the conversion succeeds.
func convert(fn converter, test bool) funcImpl {
	return func(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, fmt.Errorf("expected a single item, got %d", len(in))
		}
		r, ok := fn(in[0])
		if test {
			return boolItems(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return []Item{r}, nil
	}
}

func toBoolean(it Item) (Item, bool) {
	v := sysOf(it)
	switch v.k {
	case kBool:
		return Item{Value: v.b, Type: typeBoolean}, true
	case kInt:
		switch v.i {
		case 1:
			return Item{Value: true, Type: typeBoolean}, true
		case 0:
			return Item{Value: false, Type: typeBoolean}, true
		}
	case kDec:
		if d, ok := parseDecimal(v.s); ok {
			switch {
			case d.cmp(decFromInt(1)) == 0:
				return Item{Value: true, Type: typeBoolean}, true
			case d.sign() == 0:
				return Item{Value: false, Type: typeBoolean}, true
			}
		}
	case kStr:
		switch strings.ToLower(v.s) {
		case "true", "t", "yes", "y", "1", "1.0":
			return Item{Value: true, Type: typeBoolean}, true
		case "false", "f", "no", "n", "0", "0.0":
			return Item{Value: false, Type: typeBoolean}, true
		}
	}
	return Item{}, false
}

func toInteger(it Item) (Item, bool) {
	v := sysOf(it)
	switch v.k {
	case kInt:
		return Item{Value: v.i, Type: typeInteger}, true
	case kBool:
		if v.b {
			return Item{Value: int64(1), Type: typeInteger}, true
		}
		return Item{Value: int64(0), Type: typeInteger}, true
	case kStr:
		if isIntegerText(v.s) {
			if i, err := strconv.ParseInt(v.s, 10, 64); err == nil {
				return Item{Value: i, Type: typeInteger}, true
			}
		}
	}
	return Item{}, false
}

// isDecimalText matches (\+|-)?\d+(\.\d+)?.
func isDecimalText(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	return isAllDigits(intPart) && (!dot || isAllDigits(frac))
}

func toDecimal(it Item) (Item, bool) {
	v := sysOf(it)
	switch v.k {
	case kInt:
		return Item{Value: decFromInt(v.i).number(), Type: typeDecimal}, true
	case kDec:
		if d, ok := parseDecimal(v.s); ok {
			return Item{Value: d.number(), Type: typeDecimal}, true
		}
	case kBool:
		if v.b {
			return Item{Value: decimal{unscaled: big.NewInt(10), scale: 1}.number(), Type: typeDecimal}, true
		}
		return Item{Value: decimal{unscaled: new(big.Int), scale: 1}.number(), Type: typeDecimal}, true
	case kStr:
		if isDecimalText(v.s) {
			if d, ok := parseDecimal(v.s); ok {
				return Item{Value: d.number(), Type: typeDecimal}, true
			}
		}
	}
	return Item{}, false
}

func toStringItem(it Item) (Item, bool) {
	s, ok := stringOf(sysOf(it))
	if !ok {
		return Item{}, false
	}
	return Item{Value: s, Type: typeString}, true
}

// stringOf renders a System value as toString() does.
func stringOf(v sval) (string, bool) {
	switch v.k {
	case kStr:
		return v.s, true
	case kBool:
		return strconv.FormatBool(v.b), true
	case kInt:
		return strconv.FormatInt(v.i, 10), true
	case kDec:
		return v.s, true
	case kDate:
		return v.dt.date().String(), true
	case kDateTime:
		return v.dt.String(), true
	case kTime:
		return v.tm().String(), true
	case kQty:
		return v.qty().String(), true
	}
	return "", false
}

func toDate(it Item) (Item, bool) {
	v := sysOf(it)
	switch v.k {
	case kDate, kDateTime:
		return Item{Value: v.dt.date(), Type: typeDate}, true
	case kStr:
		if d, ok := parseDate(v.s); ok {
			return Item{Value: d, Type: typeDate}, true
		}
		if dt, ok := parseDateTime(v.s); ok {
			return Item{Value: dt.date(), Type: typeDate}, true
		}
	}
	return Item{}, false
}

func toDateTime(it Item) (Item, bool) {
	v := sysOf(it)
	switch v.k {
	case kDate, kDateTime:
		return Item{Value: v.dt, Type: typeDateTime}, true
	case kStr:
		if dt, ok := parseDateTime(v.s); ok {
			return Item{Value: dt, Type: typeDateTime}, true
		}
	}
	return Item{}, false
}

func toTime(it Item) (Item, bool) {
	v := sysOf(it)
	switch v.k {
	case kTime:
		return Item{Value: v.tm(), Type: typeTime}, true
	case kStr:
		if t, ok := parseTime(v.s); ok {
			return Item{Value: t, Type: typeTime}, true
		}
	}
	return Item{}, false
}

// toQuantity converts numbers, Booleans and strings such as "4 days" or
// "10 'mg'" to a Quantity.
func toQuantity(it Item) (Quantity, bool) {
	v := sysOf(it)
	switch v.k {
	case kQty:
		return v.qty(), true
	case kInt, kDec:
		d, ok := v.dec()
		if !ok {
			return Quantity{}, false
		}
		return Quantity{Value: d.number(), Unit: "1"}, true
	case kBool:
		if v.b {
			return Quantity{Value: "1.0", Unit: "1"}, true
		}
		return Quantity{Value: "0.0", Unit: "1"}, true
	case kStr:
		return parseQuantityString(v.s)
	}
	return Quantity{}, false
}

// fnToQuantity builds toQuantity([unit]) and convertsToQuantity([unit]).
func fnToQuantity(test bool) funcImpl {
	return func(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, fmt.Errorf("expected a single item, got %d", len(in))
		}
		q, ok := toQuantity(in[0])
		if ok && len(f.args) == 1 {
			a, err := f.arg(c, 0)
			if err != nil {
				return nil, err
			}
			unit, has, err := singletonString(a, "unit")
			if err != nil {
				return nil, err
			}
			if has {
				q, ok = convertQuantity(q, unit)
			}
		}
		if test {
			return boolItems(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return []Item{{Value: q, Type: typeQuantity}}, nil
	}
}
