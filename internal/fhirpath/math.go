package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// numericInput reads the single numeric (or Quantity, if allowed) input.
func numericInput(in []Item, allowQuantity bool) (sval, bool, error) {
	if len(in) == 0 {
		return sval{}, false, nil
	}
	if len(in) > 1 {
		return sval{}, false, fmt.Errorf("expected a single number, got %d items", len(in))
	}
	v := sysOf(in[0])
	switch {
	case v.k == kNone:
		return v, false, nil
	case isNumeric(v.k), allowQuantity && v.k == kQty:
		return v, true, nil
	}
	return sval{}, false, fmt.Errorf("expected a number, got %s", typeName(in[0]))
}

func decItem(d decimal) ([]Item, error) {
	if d.tooBig() {
		return nil, &evalError{msg: "decimal result out of range"}
	}
	return []Item{{Value: d.number(), Type: typeDecimal}}, nil
}

func fnAbs(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	v, ok, err := numericInput(in, true)
	if err != nil || !ok {
		return nil, err
	}
	switch v.k {
	case kInt:
		if v.i == math.MinInt64 {
			return nil, nil
		}
		if v.i < 0 {
			v.i = -v.i
		}
		return []Item{{Value: v.i, Type: typeInteger}}, nil
	case kQty:
		d, ok := parseDecimal(string(v.qty().Value))
		if !ok {
			return nil, nil
		}
		return []Item{{Value: Quantity{Value: d.abs().number(), Unit: v.qty().Unit}, Type: typeQuantity}}, nil
	}
	d, ok := v.dec()
	if !ok {
		return nil, nil
	}
	return decItem(d.abs())
}

// decimalFunc builds ceiling, floor and truncate: Integer results.
func decimalFunc(fn func(decimal) decimal) funcImpl {
	return func(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
		v, ok, err := numericInput(in, false)
		if err != nil || !ok {
			return nil, err
		}
		if v.k == kInt {
			return []Item{{Value: v.i, Type: typeInteger}}, nil
		}
		d, ok := v.dec()
		if !ok {
			return nil, nil
		}
		r := fn(d)
		if i, ok := r.int64(); ok {
			return []Item{{Value: i, Type: typeInteger}}, nil
		}
		return decItem(r)
	}
}

func expFloat(x float64) float64 { return math.Exp(x) }

func lnFloat(x float64) float64 {
	if x <= 0 {
		return math.NaN()
	}
	return math.Log(x)
}

func sqrtFloat(x float64) float64 {
	if x < 0 {
		return math.NaN()
	}
	return math.Sqrt(x)
}

// floatFunc builds exp, ln and sqrt, computed in floating point and
// returned as Decimal; results that are not finite are empty.
func floatFunc(fn func(float64) float64) funcImpl {
	return func(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
		v, ok, err := numericInput(in, false)
		if err != nil || !ok {
			return nil, err
		}
		d, ok := v.dec()
		if !ok {
			return nil, nil
		}
		r, ok := decFromFloat(fn(d.float()))
		if !ok {
			return nil, nil
		}
		return decItem(r)
	}
}

func numericArg(c *evalCtx, f *funcNode, i int) (sval, bool, error) {
	a, err := f.arg(c, i)
	if err != nil {
		return sval{}, false, err
	}
	return numericInput(a, false)
}

func fnLog(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	v, ok, err := numericInput(in, false)
	if err != nil || !ok {
		return nil, err
	}
	b, ok, err := numericArg(c, f, 0)
	if err != nil || !ok {
		return nil, err
	}
	x, _ := v.dec()
	base, _ := b.dec()
	xf, bf := x.float(), base.float()
	if xf <= 0 || bf <= 0 || bf == 1 {
		return nil, nil
	}
	var r float64
	switch bf {
	case 2:
		r = math.Log2(xf)
	case 10:
		r = math.Log10(xf)
	default:
		r = math.Log(xf) / math.Log(bf)
	}
	d, ok := decFromFloat(r)
	if !ok {
		return nil, nil
	}
	return decItem(d)
}

// maxExactPower bounds the exponents computed exactly.
const maxExactPower = 64

func fnPower(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	v, ok, err := numericInput(in, false)
	if err != nil || !ok {
		return nil, err
	}
	e, ok, err := numericArg(c, f, 0)
	if err != nil || !ok {
		return nil, err
	}
	if e.k == kInt && e.i >= 0 && e.i <= maxExactPower {
		if v.k == kInt {
			r := new(big.Int).Exp(big.NewInt(v.i), big.NewInt(e.i), nil)
			if !r.IsInt64() {
				return nil, nil
			}
			return []Item{{Value: r.Int64(), Type: typeInteger}}, nil
		}
		d, ok := v.dec()
		if !ok {
			return nil, nil
		}
		r := decFromInt(1)
		for i := int64(0); i < e.i; i++ {
			r = r.mul(d)
			if r.tooBig() {
				return nil, nil
			}
		}
		return decItem(r)
	}
	base, _ := v.dec()
	exp, _ := e.dec()
	r, ok := decFromFloat(math.Pow(base.float(), exp.float()))
	if !ok {
		return nil, nil
	}
	return decItem(r)
}

// maxRoundPrecision bounds the decimal places round() and the boundary
// functions accept.
const maxRoundPrecision = 28

func fnRound(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	v, ok, err := numericInput(in, false)
	if err != nil || !ok {
		return nil, err
	}
	p := int64(0)
	if len(f.args) == 1 {
		n, has, err := intArg(c, f, 0)
		if err != nil {
			return nil, err
		}
		if has {
			p = n
		}
	}
	if p < 0 || p > maxRoundPrecision {
		return nil, fmt.Errorf("precision must be between 0 and %d", maxRoundPrecision)
	}
	if v.k == kInt {
		return []Item{{Value: v.i, Type: typeInteger}}, nil
	}
	d, ok := v.dec()
	if !ok {
		return nil, nil
	}
	return decItem(d.round(int32(p)))
}

// fnBoundary builds lowBoundary and highBoundary: the least and greatest
// values the input could stand for given its precision, expressed to the
// requested precision (decimal places for numbers, digits for dates and
// times).
func fnBoundary(high bool) funcImpl {
	return func(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, fmt.Errorf("expected a single item, got %d", len(in))
		}
		p := int64(-1)
		if len(f.args) == 1 {
			n, has, err := intArg(c, f, 0)
			if err != nil {
				return nil, err
			}
			if has {
				p = n
			}
			if !has || n < 0 {
				return nil, nil
			}
		}
		v := sysOf(in[0])
		if d, ok := v.asDateLike(kDateTime); ok {
			v = d // an untyped string that reads as a date
		}
		switch v.k {
		case kInt, kDec:
			text := v.s
			if v.k == kInt {
				text = decFromInt(v.i).String()
			}
			if p < 0 {
				p = divisionScale
			}
			s, ok := decimalBoundary(text, p, high)
			if !ok {
				return nil, nil
			}
			return []Item{{Value: json.Number(s), Type: typeDecimal}}, nil
		case kQty:
			if p < 0 {
				p = divisionScale
			}
			s, ok := decimalBoundary(string(v.qty().Value), p, high)
			if !ok {
				return nil, nil
			}
			return []Item{{Value: Quantity{Value: json.Number(s), Unit: v.qty().Unit}, Type: typeQuantity}}, nil
		case kDate:
			if p < 0 {
				p = 8
			}
			prec, ok := dateDigits[p]
			if !ok || prec > PrecisionDay {
				return nil, nil
			}
			dt := dateTimeBoundary(v.dt, prec, high, false)
			return []Item{{Value: dt.date(), Type: typeDate}}, nil
		case kDateTime:
			if p < 0 {
				p = 17
			}
			prec, ok := dateDigits[p]
			if !ok {
				return nil, nil
			}
			return []Item{{Value: dateTimeBoundary(v.dt, prec, high, true), Type: typeDateTime}}, nil
		case kTime:
			if p < 0 {
				p = 9
			}
			prec, ok := timeDigits[p]
			if !ok {
				return nil, nil
			}
			t := v.tm()
			dt := dateTimeBoundary(DateTime{Hour: t.Hour, Minute: t.Minute, Second: t.Second, Nanosecond: t.Nanosecond, Precision: t.Precision}, prec, high, false)
			return []Item{{Value: Time{Hour: dt.Hour, Minute: dt.Minute, Second: dt.Second, Nanosecond: dt.Nanosecond, Precision: prec}, Type: typeTime}}, nil
		}
		return nil, fmt.Errorf("expected a number, quantity, date or time, got %s", typeName(in[0]))
	}
}

// dateDigits and timeDigits map precision() digit counts to precisions.
var (
	dateDigits = map[int64]Precision{4: PrecisionYear, 6: PrecisionMonth, 8: PrecisionDay, 10: PrecisionHour,
		12: PrecisionMinute, 14: PrecisionSecond, 17: PrecisionMillisecond}
	timeDigits = map[int64]Precision{2: PrecisionHour, 4: PrecisionMinute, 6: PrecisionSecond, 9: PrecisionMillisecond}
)

// decimalBoundary computes the boundary of a decimal written as text: the
// value stands for [v - ½ulp, v + ½ulp). On the magnitude, the boundary
// away from zero rounds half up to p places and the one towards zero
// truncates; a negative value keeps its sign, even when the boundary
// rounds to zero (-0.0), as the reference implementation does.
func decimalBoundary(text string, p int64, high bool) (string, bool) {
	if p > maxRoundPrecision {
		return "", false
	}
	d, ok := parseDecimal(text)
	if !ok {
		return "", false
	}
	neg := d.sign() < 0
	mag := d.abs()
	up := high != neg
	if mag.sign() == 0 {
		up, neg = high, !high // zero stands for [-½ulp, ½ulp)
	}
	half := decimal{unscaled: big.NewInt(5), scale: mag.scale + 1}
	var r decimal
	switch {
	case up:
		r = mag.add(half).round(int32(p))
	case mag.sign() == 0:
		r = truncPlaces(half, int32(p))
	default:
		r = truncPlaces(mag.sub(half), int32(p))
	}
	s := r.rescale(int32(p)).String()
	if neg {
		s = "-" + s
	}
	return s, true
}

// truncPlaces truncates a non-negative decimal to p places.
func truncPlaces(d decimal, p int32) decimal {
	if d.scale <= p {
		return d
	}
	return decimal{unscaled: new(big.Int).Quo(d.unscaled, pow10(d.scale-p)), scale: p}
}

// dateTimeBoundary fills the fields the value does not know with their
// least (or greatest) values down to precision p, and truncates beyond.
// For a DateTime (zone set), a value known only to the hour counts as
// known to the minute, as in the reference implementation (FHIR has no
// hour-only dateTimes), and a missing time-zone offset becomes the extreme
// one (+14:00 low, -12:00 high).
func dateTimeBoundary(t DateTime, p Precision, high, zone bool) DateTime {
	if zone && t.Precision == PrecisionHour {
		t.Precision = PrecisionMinute
	}
	r := DateTime{Year: t.Year, Precision: p, HasZone: t.HasZone, ZoneOffset: t.ZoneOffset}
	fill := func(known Precision, v, lo, hi int) int {
		if t.Precision >= known {
			return v
		}
		if high {
			return hi
		}
		return lo
	}
	r.Month = fill(PrecisionMonth, t.Month, 1, 12)
	r.Day = fill(PrecisionDay, t.Day, 1, daysIn(r.Year, max(r.Month, 1)))
	r.Hour = fill(PrecisionHour, t.Hour, 0, 23)
	r.Minute = fill(PrecisionMinute, t.Minute, 0, 59)
	r.Second = fill(PrecisionSecond, t.Second, 0, 59)
	r.Nanosecond = fill(PrecisionMillisecond, t.Nanosecond, 0, 999000000)
	// Truncate beyond p.
	if p < PrecisionMonth {
		r.Month = 0
	}
	if p < PrecisionDay {
		r.Day = 0
	}
	if p < PrecisionHour {
		r.Hour, r.HasZone, r.ZoneOffset = 0, false, 0
	}
	if p < PrecisionMinute {
		r.Minute = 0
	}
	if p < PrecisionSecond {
		r.Second = 0
	}
	if p < PrecisionMillisecond {
		r.Nanosecond = 0
	}
	if zone && p >= PrecisionHour && !r.HasZone {
		r.HasZone = true
		if high {
			r.ZoneOffset = -12 * 3600
		} else {
			r.ZoneOffset = maxZoneOffset
		}
	}
	return r
}

func fnPrecision(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > 1 {
		return nil, fmt.Errorf("expected a single item, got %d", len(in))
	}
	v := sysOf(in[0])
	switch v.k {
	case kInt:
		return intItem(0), nil
	case kDec:
		_, frac, _ := strings.Cut(v.s, ".")
		return intItem(len(frac)), nil
	case kDate, kDateTime:
		for digits, p := range dateDigits {
			if p == v.dt.Precision {
				return intItem(int(digits)), nil
			}
		}
	case kTime:
		for digits, p := range timeDigits {
			if p == v.tm().Precision {
				return intItem(int(digits)), nil
			}
		}
	}
	return nil, nil
}

func fnComparable(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	v, ok, err := numericInput(in, true)
	if err != nil || !ok {
		return nil, err
	}
	o, err := f.arg(c, 0)
	if err != nil {
		return nil, err
	}
	w, ok, err := numericInput(o, true)
	if err != nil || !ok {
		return nil, err
	}
	if v.k != kQty || w.k != kQty {
		return nil, fmt.Errorf("expected quantities")
	}
	_, _, cmp := unitFactors(resolveQuantityUnit(v.qty().Unit), resolveQuantityUnit(w.qty().Unit))
	return boolItems(cmp), nil
}
