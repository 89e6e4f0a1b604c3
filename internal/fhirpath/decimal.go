package fhirpath

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// System.Decimal values are exact: a decimal is unscaled × 10^-scale with
// scale >= 0, so 0.1 + 0.2 = 0.3 and 1.50 keeps its two decimal places.
// In Items they appear as json.Number holding the decimal text, the same
// representation FHIR JSON decimals have.

const (
	// maxDecimalDigits bounds the digits (before and after the point) of
	// any decimal the evaluator parses or computes, so hostile literals or
	// data (1e999999999) cannot exhaust memory. Larger values are treated
	// as not convertible.
	maxDecimalDigits = 400
	// divisionScale is the number of decimal places kept by '/' and the
	// functions computed in floating point (exp, ln, log, power, sqrt):
	// FHIRPath decimals have a step of 10^-8.
	divisionScale = 8
)

type decimal struct {
	unscaled *big.Int
	scale    int32
}

var (
	bigOne = big.NewInt(1)
	bigTen = big.NewInt(10)
)

func pow10(n int32) *big.Int {
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

func decFromInt(i int64) decimal { return decimal{unscaled: big.NewInt(i), scale: 0} }

// parseDecimal parses JSON number syntax (-?digits(.digits)?(e[+-]?digits)?)
// and also accepts a leading '+'.
func parseDecimal(s string) (decimal, bool) {
	if s == "" {
		return decimal{}, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil || e > maxDecimalDigits || e < -maxDecimalDigits {
			return decimal{}, false
		}
		mant, exp = s[:i], e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
		if frac == "" {
			return decimal{}, false
		}
	}
	if intPart == "" || len(intPart)+len(frac) > maxDecimalDigits {
		return decimal{}, false
	}
	for i := 0; i < len(intPart); i++ {
		if !isDigit(intPart[i]) {
			return decimal{}, false
		}
	}
	for i := 0; i < len(frac); i++ {
		if !isDigit(frac[i]) {
			return decimal{}, false
		}
	}
	u := new(big.Int)
	if len(intPart)+len(frac) <= 18 {
		v, _ := strconv.ParseInt(intPart+frac, 10, 64)
		u.SetInt64(v)
	} else {
		u.SetString(intPart+frac, 10)
	}
	scale := int64(len(frac)) - exp
	if scale < 0 {
		u.Mul(u, pow10(int32(-scale)))
		scale = 0
	}
	if neg {
		u.Neg(u)
	}
	return decimal{unscaled: u, scale: int32(scale)}, true
}

func (d decimal) String() string {
	s := d.unscaled.String()
	if d.scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if n := int(d.scale) + 1 - len(s); n > 0 {
		s = strings.Repeat("0", n) + s
	}
	p := len(s) - int(d.scale)
	s = s[:p] + "." + s[p:]
	if neg {
		s = "-" + s
	}
	return s
}

func (d decimal) number() json.Number { return json.Number(d.String()) }

// rescale returns d with the given larger or equal scale.
func (d decimal) rescale(scale int32) decimal {
	if scale == d.scale {
		return d
	}
	return decimal{unscaled: new(big.Int).Mul(d.unscaled, pow10(scale-d.scale)), scale: scale}
}

func align(a, b decimal) (decimal, decimal) {
	if a.scale < b.scale {
		return a.rescale(b.scale), b
	}
	return a, b.rescale(a.scale)
}

func (d decimal) cmp(e decimal) int {
	a, b := align(d, e)
	return a.unscaled.Cmp(b.unscaled)
}

func (d decimal) sign() int { return d.unscaled.Sign() }

func (d decimal) add(e decimal) decimal {
	a, b := align(d, e)
	return decimal{unscaled: new(big.Int).Add(a.unscaled, b.unscaled), scale: a.scale}
}

func (d decimal) sub(e decimal) decimal {
	a, b := align(d, e)
	return decimal{unscaled: new(big.Int).Sub(a.unscaled, b.unscaled), scale: a.scale}
}

func (d decimal) mul(e decimal) decimal {
	return decimal{unscaled: new(big.Int).Mul(d.unscaled, e.unscaled), scale: d.scale + e.scale}
}

func (d decimal) neg() decimal {
	return decimal{unscaled: new(big.Int).Neg(d.unscaled), scale: d.scale}
}

func (d decimal) abs() decimal {
	return decimal{unscaled: new(big.Int).Abs(d.unscaled), scale: d.scale}
}

// tooBig reports whether d exceeds maxDecimalDigits.
func (d decimal) tooBig() bool {
	return d.unscaled.BitLen() > maxDecimalDigits*10/3 || d.scale > maxDecimalDigits
}

// quo divides with divisionScale decimal places, rounding half away from
// zero, and drops trailing zeros. ok is false for division by zero.
func (d decimal) quo(e decimal) (decimal, bool) {
	if e.sign() == 0 {
		return decimal{}, false
	}
	// d/e = (d.u × 10^-ds) / (e.u × 10^-es); scale the numerator so the
	// integer quotient has divisionScale+1 places, then round.
	shift := divisionScale + 1 + e.scale - d.scale
	num := new(big.Int).Set(d.unscaled)
	den := new(big.Int).Set(e.unscaled)
	if shift >= 0 {
		num.Mul(num, pow10(shift))
	} else {
		den.Mul(den, pow10(-shift))
	}
	q := new(big.Int).Quo(num, den)
	r := decimal{unscaled: q, scale: divisionScale + 1}.round(divisionScale)
	return r.trim(), true
}

// trim drops trailing zeros after the decimal point.
func (d decimal) trim() decimal {
	if d.scale == 0 || d.sign() == 0 {
		if d.sign() == 0 {
			return decimal{unscaled: new(big.Int), scale: 0}
		}
		return d
	}
	u := new(big.Int).Set(d.unscaled)
	s := d.scale
	m := new(big.Int)
	for s > 0 {
		q, r := new(big.Int).QuoRem(u, bigTen, m)
		if r.Sign() != 0 {
			break
		}
		u = q
		s--
	}
	return decimal{unscaled: u, scale: s}
}

// round rounds to p decimal places, half away from zero.
func (d decimal) round(p int32) decimal {
	if p >= d.scale {
		return d.rescale(p)
	}
	div := pow10(d.scale - p)
	q, r := new(big.Int).QuoRem(d.unscaled, div, new(big.Int))
	r.Abs(r).Mul(r, big.NewInt(2))
	if r.Cmp(div) >= 0 {
		if d.sign() < 0 {
			q.Sub(q, bigOne)
		} else {
			q.Add(q, bigOne)
		}
	}
	return decimal{unscaled: q, scale: p}
}

// truncate drops the fractional part (towards zero).
func (d decimal) truncate() decimal {
	if d.scale == 0 {
		return d
	}
	return decimal{unscaled: new(big.Int).Quo(d.unscaled, pow10(d.scale)), scale: 0}
}

func (d decimal) floor() decimal {
	if d.scale == 0 {
		return d
	}
	q, m := new(big.Int).DivMod(d.unscaled, pow10(d.scale), new(big.Int))
	_ = m // Euclidean division: q is the floor for a positive divisor.
	return decimal{unscaled: q, scale: 0}
}

func (d decimal) ceiling() decimal {
	f := d.floor()
	if f.cmp(d) == 0 {
		return f
	}
	return decimal{unscaled: new(big.Int).Add(f.unscaled, bigOne), scale: 0}
}

// int64 returns d as an int64 if it is a whole number in range.
func (d decimal) int64() (int64, bool) {
	t := d.truncate()
	if t.cmp(d) != 0 || !t.unscaled.IsInt64() {
		return 0, false
	}
	return t.unscaled.Int64(), true
}

func (d decimal) float() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// decFromFloat converts a floating-point result, keeping divisionScale
// decimal places; ok is false for NaN and infinities.
func decFromFloat(f float64) (decimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return decimal{}, false
	}
	d, ok := parseDecimal(strconv.FormatFloat(f, 'g', 15, 64))
	if !ok {
		return decimal{}, false
	}
	if d.scale > divisionScale {
		d = d.round(divisionScale)
	}
	return d.trim(), true
}

// rat returns d as an exact rational.
func (d decimal) rat() *big.Rat {
	return new(big.Rat).SetFrac(d.unscaled, pow10(d.scale))
}

// decFromRat converts an exact rational, exactly if it has a terminating
// expansion of at most minScale+divisionScale places, else rounded to that.
func decFromRat(r *big.Rat, minScale int32) decimal {
	scale := minScale + divisionScale
	num := new(big.Int).Mul(r.Num(), pow10(scale+1))
	q := new(big.Int).Quo(num, r.Denom())
	d := decimal{unscaled: q, scale: scale + 1}.round(scale).trim()
	if d.scale < minScale {
		d = d.rescale(minScale)
	}
	return d
}

// ratRound rounds r to p decimal places (half away from zero) and returns
// the result scaled by 10^p as an integer.
func ratRound(r *big.Rat, p int32) *big.Int {
	num := new(big.Int).Mul(r.Num(), pow10(p))
	num.Mul(num, big.NewInt(2))
	den := new(big.Int).Mul(r.Denom(), big.NewInt(2))
	// (2·n·10^p + d) / 2d rounds half up for positives.
	if num.Sign() >= 0 {
		num.Add(num, r.Denom())
		return num.Quo(num, den)
	}
	num.Sub(num, r.Denom())
	return num.Quo(num, den)
}
