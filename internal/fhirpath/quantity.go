package fhirpath

import (
	"encoding/json"
	"math/big"
	"strings"
)

// System.Quantity: values, conversion from FHIR Quantity, comparison and
// arithmetic. Units are resolved by ucum.go.

// Quantity is a System.Quantity: an exact decimal value and a unit, either
// a UCUM code ("mg", "[lb_av]", "1") or a calendar duration keyword
// ("year", "months", "day", ...).
type Quantity struct {
	Value json.Number
	Unit  string
}

// String formats q as FHIRPath writes it: 1 'mg', or 4 days for a calendar
// duration keyword.
func (q Quantity) String() string {
	if _, ok := calendarKeywords[q.Unit]; ok {
		return string(q.Value) + " " + q.Unit
	}
	return string(q.Value) + " '" + q.Unit + "'"
}

// quantityFromMap converts a FHIR Quantity: the UCUM code when the system
// is UCUM (or absent), else the code or the human unit.
func quantityFromMap(m map[string]any) (Quantity, bool) {
	n, ok := m["value"].(json.Number)
	if !ok {
		return Quantity{}, false
	}
	if _, ok := parseDecimal(string(n)); !ok {
		return Quantity{}, false
	}
	code, _ := m["code"].(string)
	text, _ := m["unit"].(string)
	sys, _ := m["system"].(string)
	unit := "1"
	switch {
	case code != "" && (sys == "" || sys == ucumSystem):
		unit = code
	case text != "":
		unit = text
	case code != "":
		unit = code
	}
	return Quantity{Value: n, Unit: unit}, true
}

// compareQuantity orders two quantities after unit conversion; ok is false
// when the units are not comparable.
func compareQuantity(a, b Quantity) (int, bool) {
	ra, rb, ok := quantityRats(a, b)
	if !ok {
		return 0, false
	}
	return ra.Cmp(rb), true
}

// quantityRats returns both values in a common unit.
func quantityRats(a, b Quantity) (*big.Rat, *big.Rat, bool) {
	da, ok1 := parseDecimal(string(a.Value))
	db, ok2 := parseDecimal(string(b.Value))
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	fa, fb, ok := unitFactors(resolveQuantityUnit(a.Unit), resolveQuantityUnit(b.Unit))
	if !ok {
		return nil, nil, false
	}
	ra := new(big.Rat).Mul(da.rat(), fa)
	rb := new(big.Rat).Mul(db.rat(), fb)
	return ra, rb, true
}

// equivalentQuantity compares after converting b to a's unit, at the
// precision of the less precise value.
func equivalentQuantity(a, b Quantity) bool {
	da, ok1 := parseDecimal(string(a.Value))
	db, ok2 := parseDecimal(string(b.Value))
	if !ok1 || !ok2 {
		return false
	}
	fa, fb, ok := unitFactors(resolveQuantityUnit(a.Unit), resolveQuantityUnit(b.Unit))
	if !ok {
		return false
	}
	// b in a's unit: db × fb / fa, with the scale that implies.
	rb := new(big.Rat).Mul(db.rat(), fb)
	rb.Quo(rb, fa)
	bScale := db.scale
	if fa.Cmp(fb) != 0 {
		bScale = decFromRat(rb, db.scale).scale
	}
	p := min(da.scale, bScale)
	return ratRound(da.rat(), p).Cmp(ratRound(rb, p)) == 0
}

func quantityArithmetic(op opKind, a, b Quantity) (Item, bool, error) {
	da, ok1 := parseDecimal(string(a.Value))
	db, ok2 := parseDecimal(string(b.Value))
	if !ok1 || !ok2 {
		return Item{}, false, nil
	}
	var value decimal
	unit := a.Unit
	switch op {
	case opAdd, opSub:
		fa, fb, ok := unitFactors(resolveQuantityUnit(a.Unit), resolveQuantityUnit(b.Unit))
		if !ok {
			return Item{}, false, &evalError{msg: "cannot add quantities with incompatible units"}
		}
		bv := db
		if fa.Cmp(fb) != 0 {
			r := new(big.Rat).Mul(db.rat(), fb)
			bv = decFromRat(r.Quo(r, fa), db.scale)
		}
		if op == opAdd {
			value = da.add(bv)
		} else {
			value = da.sub(bv)
		}
	case opMul:
		value = da.mul(db)
		unit = mulUnits(ucumCode(a.Unit), ucumCode(b.Unit))
	case opDiv:
		q, ok := da.quo(db)
		if !ok {
			return Item{}, false, nil
		}
		value = q
		unit = divUnits(ucumCode(a.Unit), ucumCode(b.Unit))
	default:
		return Item{}, false, &evalError{msg: "operator not defined for quantities"}
	}
	if value.tooBig() || len(unit) > maxUnitLength {
		return Item{}, false, &evalError{msg: "quantity result out of range"}
	}
	return Item{Value: Quantity{Value: value.number(), Unit: unit}, Type: typeQuantity}, true, nil
}

func mulUnits(a, b string) string {
	switch {
	case a == "1" || a == "":
		return b
	case b == "1" || b == "":
		return a
	}
	return wrapUnit(a, false) + "." + wrapUnit(b, false)
}

func divUnits(a, b string) string {
	switch {
	case b == "1" || b == "":
		return a
	case a == b:
		return "1"
	case a == "":
		a = "1"
	}
	return wrapUnit(a, false) + "/" + wrapUnit(b, true)
}

// wrapUnit parenthesises a compound unit used as an operand.
func wrapUnit(u string, divisor bool) string {
	if strings.ContainsRune(u, '/') || divisor && strings.ContainsRune(u, '.') {
		return "(" + u + ")"
	}
	return u
}

func ucumCode(unit string) string {
	if cu, ok := calendarKeywords[unit]; ok {
		return ucumCalendar[cu]
	}
	return unit
}

// convertQuantity expresses q in unit, if the units are comparable.
func convertQuantity(q Quantity, unit string) (Quantity, bool) {
	if q.Unit == unit {
		return q, true
	}
	d, ok := parseDecimal(string(q.Value))
	if !ok {
		return Quantity{}, false
	}
	fq, fu, ok := unitFactors(resolveQuantityUnit(q.Unit), resolveQuantityUnit(unit))
	if !ok {
		return Quantity{}, false
	}
	r := new(big.Rat).Mul(d.rat(), fq)
	r.Quo(r, fu)
	return Quantity{Value: decFromRat(r, d.scale).number(), Unit: unit}, true
}

// parseQuantityString parses (\+|-)?\d+(\.\d+)? followed by an optional
// 'ucum unit' or calendar duration keyword.
func parseQuantityString(s string) (Quantity, bool) {
	num, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	if !isDecimalText(num) {
		return Quantity{}, false
	}
	d, ok := parseDecimal(num)
	if !ok {
		return Quantity{}, false
	}
	rest = strings.TrimSpace(rest)
	unit := "1"
	switch {
	case rest == "":
	case len(rest) >= 2 && rest[0] == '\'' && rest[len(rest)-1] == '\'':
		unit = rest[1 : len(rest)-1]
		if unit == "" || strings.ContainsRune(unit, '\'') {
			return Quantity{}, false
		}
	default:
		if _, ok := calendarKeywords[rest]; !ok {
			return Quantity{}, false
		}
		unit = rest
	}
	return Quantity{Value: d.number(), Unit: unit}, true
}

// ucumCalendar maps calendar keywords to UCUM for unit algebra.
var ucumCalendar = map[calendarUnit]string{
	cuYear: "a", cuMonth: "mo", cuWeek: "wk", cuDay: "d", cuHour: "h", cuMinute: "min", cuSecond: "s", cuMillisecond: "ms",
}
