package fhirpath

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// System type names used as Item.Type for computed values.
const (
	typeBoolean  = "System.Boolean"
	typeInteger  = "System.Integer"
	typeDecimal  = "System.Decimal"
	typeString   = "System.String"
	typeDate     = "System.Date"
	typeDateTime = "System.DateTime"
	typeTime     = "System.Time"
	typeQuantity = "System.Quantity"
)

// sysKind is the System type an item converts to for operators.
type sysKind uint8

const (
	kNone     sysKind = iota // a primitive without value
	kBool                    // b
	kInt                     // i
	kDec                     // s holds the decimal text
	kStr                     // s
	kDate                    // dt, precision <= day
	kDateTime                // dt
	kTime                    // dt, time fields only
	kQty                     // s and unit
	kObj                     // m: a FHIR complex value
	kOther                   // anything else a caller put in an Item
)

// sval is an item converted to its System value. It is a plain struct so
// conversions do not allocate.
type sval struct {
	k       sysKind
	b       bool
	untyped bool // a string whose FHIR type is unknown: it may be a date
	i       int64
	s       string   // string; decimal text; quantity value
	unit    string   // quantity unit
	dt      DateTime // date, date-time, or time of day (time fields only)
	m       map[string]any
}

func timeVal(t Time) sval {
	return sval{k: kTime, dt: DateTime{Hour: t.Hour, Minute: t.Minute, Second: t.Second, Nanosecond: t.Nanosecond, Precision: t.Precision}}
}

func (v sval) tm() Time {
	return Time{Hour: v.dt.Hour, Minute: v.dt.Minute, Second: v.dt.Second, Nanosecond: v.dt.Nanosecond, Precision: v.dt.Precision}
}

func qtyVal(q Quantity) sval { return sval{k: kQty, s: string(q.Value), unit: q.Unit} }

func (v sval) qty() Quantity { return Quantity{Value: json.Number(v.s), Unit: v.unit} }

// integerTypes are the FHIR types whose values are System.Integer.
var integerTypes = map[string]bool{
	"integer": true, "unsignedInt": true, "positiveInt": true, "integer64": true, typeInteger: true,
}

// quantityTypes are the FHIR types whose values convert to System.Quantity.
var quantityTypes = map[string]bool{
	"Quantity": true, "Age": true, "Distance": true, "Duration": true, "Count": true,
	"SimpleQuantity": true, "MoneyQuantity": true, typeQuantity: true,
}

const ucumSystem = "http://unitsofmeasure.org"

// sysOf converts an item to its System value: FHIR integer and decimal
// numbers to Integer and Decimal, date/dateTime/instant/time strings to
// Date/DateTime/Time, FHIR Quantity to System.Quantity.
func sysOf(it Item) sval {
	switch v := it.Value.(type) {
	case nil:
		return sval{k: kNone}
	case bool:
		return sval{k: kBool, b: v}
	case int64:
		return sval{k: kInt, i: v}
	case int:
		return sval{k: kInt, i: int64(v)}
	case json.Number:
		s := string(v)
		if integerTypes[it.Type] || it.Type == "" && isIntegerText(s) {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return sval{k: kInt, i: i}
			}
		}
		return sval{k: kDec, s: s}
	case float64:
		return sval{k: kDec, s: strconv.FormatFloat(v, 'f', -1, 64)}
	case string:
		switch it.Type {
		case "date", typeDate:
			if d, ok := parseDate(v); ok {
				return sval{k: kDate, dt: d.dateTime()}
			}
		case "dateTime", "instant", typeDateTime:
			if d, ok := parseDateTime(v); ok {
				return sval{k: kDateTime, dt: d}
			}
		case "time", typeTime:
			if t, ok := parseTime(v); ok {
				return timeVal(t)
			}
		case "":
			return sval{k: kStr, s: v, untyped: true}
		}
		return sval{k: kStr, s: v}
	case Date:
		return sval{k: kDate, dt: v.dateTime()}
	case DateTime:
		return sval{k: kDateTime, dt: v}
	case Time:
		return timeVal(v)
	case Quantity:
		return qtyVal(v)
	case map[string]any:
		if quantityTypes[it.Type] {
			if q, ok := quantityFromMap(v); ok {
				return qtyVal(q)
			}
		}
		return sval{k: kObj, m: v}
	}
	return sval{k: kOther}
}

func isIntegerText(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	return isAllDigits(s)
}

// asDateLike converts an untyped string for comparison with a date value.
func (v sval) asDateLike(want sysKind) (sval, bool) {
	if v.k != kStr || !v.untyped {
		return v, false
	}
	switch want {
	case kDate, kDateTime:
		if d, ok := parseDateTime(v.s); ok {
			k := kDateTime
			if d.Precision <= PrecisionDay && !strings.Contains(v.s, "T") {
				k = kDate
			}
			return sval{k: k, dt: d}, true
		}
	case kTime:
		if t, ok := parseTime(v.s); ok {
			return timeVal(t), true
		}
	}
	return v, false
}

// unify applies implicit conversions so a and b can be compared: untyped
// strings to dates, Integer to Decimal is handled by the callers.
func unify(a, b sval) (sval, sval) {
	if a.k == kStr && a.untyped && (b.k == kDate || b.k == kDateTime || b.k == kTime) {
		a, _ = a.asDateLike(b.k)
	} else if b.k == kStr && b.untyped && (a.k == kDate || a.k == kDateTime || a.k == kTime) {
		b, _ = b.asDateLike(a.k)
	}
	if a.k == kQty && b.k == kObj {
		if q, ok := quantityFromMap(b.m); ok {
			b = qtyVal(q)
		}
	} else if b.k == kQty && a.k == kObj {
		if q, ok := quantityFromMap(a.m); ok {
			a = qtyVal(q)
		}
	}
	return a, b
}

func isNumeric(k sysKind) bool { return k == kInt || k == kDec }

func isDateKind(k sysKind) bool { return k == kDate || k == kDateTime }

// decOf returns the decimal of a numeric sval.
func (v sval) dec() (decimal, bool) {
	if v.k == kInt {
		return decFromInt(v.i), true
	}
	return parseDecimal(v.s)
}

// equalVals implements '=' for two single values: eq, and whether the
// result is defined.
func equalVals(a, b sval) (bool, bool) {
	a, b = unify(a, b)
	switch {
	case a.k == kNone || b.k == kNone:
		return false, false
	case a.k == kInt && b.k == kInt:
		return a.i == b.i, true
	case isNumeric(a.k) && isNumeric(b.k):
		if a.k == kDec && b.k == kDec && a.s == b.s {
			return true, true
		}
		da, ok1 := a.dec()
		db, ok2 := b.dec()
		if !ok1 || !ok2 {
			return false, false
		}
		return da.cmp(db) == 0, true
	case a.k == kStr && b.k == kStr:
		return a.s == b.s, true
	case a.k == kBool && b.k == kBool:
		return a.b == b.b, true
	case isDateKind(a.k) && isDateKind(b.k):
		c, ok := compareDateTime(a.dt, b.dt)
		return ok && c == 0, ok
	case a.k == kTime && b.k == kTime:
		c, ok := compareTime(a.tm(), b.tm())
		return ok && c == 0, ok
	case a.k == kQty && b.k == kQty:
		c, ok := compareQuantity(a.qty(), b.qty())
		return ok && c == 0, ok
	case a.k == kObj && b.k == kObj:
		return jsonEqual(a.m, b.m, 0, false), true
	}
	return false, true
}

// equivalentVals implements '~' for two single values.
func equivalentVals(a, b sval) bool {
	a, b = unify(a, b)
	switch {
	case a.k == kNone || b.k == kNone:
		return a.k == b.k
	case isNumeric(a.k) && isNumeric(b.k):
		da, ok1 := a.dec()
		db, ok2 := b.dec()
		if !ok1 || !ok2 {
			return false
		}
		p := min(da.scale, db.scale)
		return da.round(p).cmp(db.round(p)) == 0
	case a.k == kStr && b.k == kStr:
		return normalizeString(a.s) == normalizeString(b.s)
	case a.k == kBool && b.k == kBool:
		return a.b == b.b
	case isDateKind(a.k) && isDateKind(b.k):
		if level(a.dt.Precision) != level(b.dt.Precision) {
			return false
		}
		c, ok := compareDateTime(a.dt, b.dt)
		return ok && c == 0
	case a.k == kTime && b.k == kTime:
		if level(a.tm().Precision) != level(b.tm().Precision) {
			return false
		}
		c, ok := compareTime(a.tm(), b.tm())
		return ok && c == 0
	case a.k == kQty && b.k == kQty:
		return equivalentQuantity(a.qty(), b.qty())
	case a.k == kObj && b.k == kObj:
		return jsonEqual(a.m, b.m, 0, true)
	}
	return false
}

// normalizeString folds case and collapses white space, for '~'.
func normalizeString(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), unicode.IsSpace), " ")
}

// compareVals orders two single values for < <= > >=. ok is false when the
// result is unknown (dates of different precision, incomparable units);
// err reports operands that cannot be compared at all.
func compareVals(a, b sval) (int, bool, error) {
	a, b = unify(a, b)
	switch {
	case a.k == kNone || b.k == kNone:
		return 0, false, nil
	case a.k == kInt && b.k == kInt:
		return cmpInt64(a.i, b.i), true, nil
	case isNumeric(a.k) && isNumeric(b.k):
		da, ok1 := a.dec()
		db, ok2 := b.dec()
		if !ok1 || !ok2 {
			return 0, false, nil
		}
		return da.cmp(db), true, nil
	case a.k == kStr && b.k == kStr:
		return strings.Compare(a.s, b.s), true, nil
	case isDateKind(a.k) && isDateKind(b.k):
		c, ok := compareDateTime(a.dt, b.dt)
		return c, ok, nil
	case a.k == kTime && b.k == kTime:
		c, ok := compareTime(a.tm(), b.tm())
		return c, ok, nil
	case a.k == kQty && b.k == kQty:
		c, ok := compareQuantity(a.qty(), b.qty())
		return c, ok, nil
	}
	return 0, false, errIncomparable(a, b)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func errIncomparable(a, b sval) error {
	return &evalError{msg: "cannot compare " + kindName(a.k) + " with " + kindName(b.k)}
}

// evalError is an evaluation error whose message names types, never data.
type evalError struct{ msg string }

func (e *evalError) Error() string { return e.msg }

func kindName(k sysKind) string {
	switch k {
	case kNone:
		return "a primitive without value"
	case kBool:
		return "Boolean"
	case kInt:
		return "Integer"
	case kDec:
		return "Decimal"
	case kStr:
		return "String"
	case kDate:
		return "Date"
	case kDateTime:
		return "DateTime"
	case kTime:
		return "Time"
	case kQty:
		return "Quantity"
	case kObj:
		return "a complex value"
	}
	return "an unsupported value"
}

// typeName describes an item's type for error messages.
func typeName(it Item) string {
	if it.Type != "" {
		return it.Type
	}
	return kindName(sysOf(it).k)
}

// jsonEqual compares two JSON values; equiv selects '~' semantics for
// strings and decimals.
func jsonEqual(a, b any, depth int, equiv bool) bool {
	if depth > maxValueDepth {
		return false
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w, depth+1, equiv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		if !equiv {
			for i := range x {
				if !jsonEqual(x[i], y[i], depth+1, equiv) {
					return false
				}
			}
			return true
		}
		used := make([]bool, len(y))
	outer:
		for i := range x {
			for j := range y {
				if !used[j] && jsonEqual(x[i], y[j], depth+1, equiv) {
					used[j] = true
					continue outer
				}
			}
			return false
		}
		return true
	case string:
		y, ok := b.(string)
		if !ok {
			return false
		}
		if equiv {
			return normalizeString(x) == normalizeString(y)
		}
		return x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		dx, ok1 := parseDecimal(string(x))
		dy, ok2 := parseDecimal(string(y))
		if !ok1 || !ok2 {
			return false
		}
		if equiv {
			p := min(dx.scale, dy.scale)
			return dx.round(p).cmp(dy.round(p)) == 0
		}
		return dx.cmp(dy) == 0
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	}
	return false
}
