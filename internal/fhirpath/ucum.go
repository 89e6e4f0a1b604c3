package fhirpath

import (
	"math/big"
	"strconv"
	"strings"
	"sync"
)

// A small UCUM (Unified Code for Units of Measure) subset: enough to
// compare and convert the units clinical data commonly uses (metric
// prefixes on the base and derived SI units, time, volume, pressure, the
// customary length and mass units) and to multiply and divide them.
// Special (non-linear) units such as Cel and [degF], and units not in the
// table, are comparable only with the identical unit code.

// dimension counts the exponents of the UCUM base units
// m, s, g, rad, K, C, cd.
type dimension [7]int8

// unitDef is a unit reduced to base units: value = factor × base.
type unitDef struct {
	factor *big.Rat
	dim    dimension
}

// ratOf parses a constant of the tables below (which a test checks).
func ratOf(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return big.NewRat(1, 1)
	}
	return r
}

var ucumPrefixes = map[string]*big.Rat{
	"Y": ratOf("1e24"), "Z": ratOf("1e21"), "E": ratOf("1e18"), "P": ratOf("1e15"),
	"T": ratOf("1e12"), "G": ratOf("1e9"), "M": ratOf("1e6"), "k": ratOf("1e3"),
	"h": ratOf("1e2"), "da": ratOf("10"), "d": ratOf("1e-1"), "c": ratOf("1e-2"),
	"m": ratOf("1e-3"), "u": ratOf("1e-6"), "n": ratOf("1e-9"), "p": ratOf("1e-12"),
	"f": ratOf("1e-15"), "a": ratOf("1e-18"), "z": ratOf("1e-21"), "y": ratOf("1e-24"),
	"Ki": ratOf("1024"), "Mi": ratOf("1048576"), "Gi": ratOf("1073741824"), "Ti": ratOf("1099511627776"),
}

// ucumAtoms is defined by expressions over earlier entries, resolved once.
var ucumAtomSource = [][2]string{
	{"1", "1"}, {"10*", "10"}, {"10^", "10"}, {"%", "1/100"}, {"[ppth]", "1/1000"},
	{"[ppm]", "1/1000000"}, {"[ppb]", "1/1000000000"}, {"[pptr]", "1/1000000000000"},
	{"mol", "602213670000000000000000"}, {"sr", "rad2"},
	{"Hz", "s-1"}, {"N", "kg.m/s2"}, {"Pa", "N/m2"}, {"J", "N.m"}, {"W", "J/s"},
	{"A", "C/s"}, {"V", "J/C"}, {"F", "C/V"}, {"Ohm", "V/A"}, {"S", "Ohm-1"},
	{"Wb", "V.s"}, {"T", "Wb/m2"}, {"H", "Wb/A"}, {"lm", "cd.sr"}, {"lx", "lm/m2"},
	{"Bq", "s-1"}, {"Gy", "J/kg"}, {"Sv", "J/kg"},
	{"l", "dm3"}, {"L", "l"}, {"ar", "100 m2"}, {"t", "1000 kg"}, {"u", "0.0000000000000000000000016605402 g"},
	{"min", "60 s"}, {"h", "60 min"}, {"d", "24 h"}, {"wk", "7 d"},
	{"a_t", "365.24219 d"}, {"a_j", "365.25 d"}, {"a_g", "365.2425 d"}, {"a", "a_j"},
	{"mo_s", "29.53059 d"}, {"mo_j", "a_j/12"}, {"mo_g", "a_g/12"}, {"mo", "mo_j"},
	{"bar", "100000 Pa"}, {"atm", "101325 Pa"}, {"m[Hg]", "133.322 kPa"}, {"m[H2O]", "9.80665 kPa"},
	{"cal", "4.184 J"}, {"[Cal]", "kcal"}, {"eq", "mol"}, {"osm", "mol"}, {"kat", "mol/s"}, {"U", "umol/min"},
	{"g%", "g/dl"}, {"Ao", "0.1 nm"}, {"[in_i]", "2.54 cm"}, {"[ft_i]", "12 [in_i]"},
	{"[yd_i]", "3 [ft_i]"}, {"[mi_i]", "5280 [ft_i]"}, {"[nmi_i]", "1852 m"}, {"[cin_i]", "[in_i]3"},
	{"[lb_av]", "453.59237 g"}, {"[oz_av]", "[lb_av]/16"}, {"[gr]", "64.79891 mg"}, {"[dr_av]", "[oz_av]/16"},
	{"[stone_av]", "14 [lb_av]"}, {"[gal_us]", "231 [cin_i]"}, {"[qt_us]", "[gal_us]/4"},
	{"[pt_us]", "[qt_us]/2"}, {"[foz_us]", "[gal_us]/128"}, {"[cup_us]", "8 [foz_us]"},
	{"[tbs_us]", "[foz_us]/2"}, {"[tsp_us]", "[tbs_us]/3"}, {"[drp]", "ml/20"},
	{"[gal_br]", "4.54609 l"}, {"[pt_br]", "[gal_br]/8"}, {"[foz_br]", "[gal_br]/160"},
	{"[car_m]", "0.2 g"}, {"[lbf_av]", "9.80665 [lb_av].m/s2"}, {"[psi]", "[lbf_av]/[in_i]2"},
}

var (
	ucumAtoms     map[string]unitDef
	ucumAtomsOnce sync.Once
)

func loadUCUMAtoms() {
	ucumAtoms = map[string]unitDef{
		"m":   {big.NewRat(1, 1), dimension{1, 0, 0, 0, 0, 0, 0}},
		"s":   {big.NewRat(1, 1), dimension{0, 1, 0, 0, 0, 0, 0}},
		"g":   {big.NewRat(1, 1), dimension{0, 0, 1, 0, 0, 0, 0}},
		"rad": {big.NewRat(1, 1), dimension{0, 0, 0, 1, 0, 0, 0}},
		"K":   {big.NewRat(1, 1), dimension{0, 0, 0, 0, 1, 0, 0}},
		"C":   {big.NewRat(1, 1), dimension{0, 0, 0, 0, 0, 1, 0}},
		"cd":  {big.NewRat(1, 1), dimension{0, 0, 0, 0, 0, 0, 1}},
	}
	for _, a := range ucumAtomSource {
		if _, ok := ucumAtoms[a[0]]; ok {
			continue
		}
		expr := a[1]
		factor := big.NewRat(1, 1)
		if i := strings.IndexByte(expr, ' '); i >= 0 {
			f, ok := new(big.Rat).SetString(expr[:i])
			if !ok {
				continue
			}
			factor, expr = f, expr[i+1:]
		}
		var d unitDef
		if r, ok := new(big.Rat).SetString(expr); ok {
			d = unitDef{r, dimension{}}
		} else {
			var ok bool
			d, ok = parseUnitTerm(expr)
			if !ok {
				continue
			}
		}
		ucumAtoms[a[0]] = unitDef{new(big.Rat).Mul(factor, d.factor), d.dim}
	}
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// maxUnitLength bounds the unit codes the parser looks at.
const maxUnitLength = 256

// unitCache memoises parsed units; it stops growing at unitCacheLimit
// entries so hostile data cannot fill memory.
var (
	unitCache      sync.Map // string -> unitResult
	unitCacheCount int64
	unitCacheMu    sync.Mutex
)

const unitCacheLimit = 4096

type unitResult struct {
	def unitDef
	ok  bool
}

// parseUnit reduces a UCUM unit code to base units.
func parseUnit(code string) (unitDef, bool) {
	if v, ok := unitCache.Load(code); ok {
		r := v.(unitResult)
		return r.def, r.ok
	}
	ucumAtomsOnce.Do(loadUCUMAtoms)
	var r unitResult
	if len(code) <= maxUnitLength {
		r.def, r.ok = parseUnitTerm(code)
	}
	unitCacheMu.Lock()
	if unitCacheCount < unitCacheLimit {
		unitCacheCount++
		unitCache.Store(code, r)
	}
	unitCacheMu.Unlock()
	return r.def, r.ok
}

// parseUnitTerm parses a UCUM term: components joined by '.' and '/',
// with parentheses, exponents, annotations {…} and a leading '/'.
func parseUnitTerm(s string) (unitDef, bool) {
	p := unitParser{s: s}
	d, ok := p.term(0)
	if !ok || p.i != len(s) || d.factor.Sign() <= 0 {
		return unitDef{}, false
	}
	return d, true
}

type unitParser struct {
	s string
	i int
}

const maxUnitNesting = 8

func (p *unitParser) term(depth int) (unitDef, bool) {
	if depth > maxUnitNesting {
		return unitDef{}, false
	}
	res := unitDef{factor: big.NewRat(1, 1)}
	op := byte('.')
	if p.i < len(p.s) && p.s[p.i] == '/' {
		op = '/'
		p.i++
	}
	for {
		c, ok := p.component(depth)
		if !ok {
			return unitDef{}, false
		}
		if op == '.' {
			res.factor.Mul(res.factor, c.factor)
			for k := range res.dim {
				res.dim[k] += c.dim[k]
			}
		} else {
			if c.factor.Sign() == 0 {
				return unitDef{}, false
			}
			res.factor.Quo(res.factor, c.factor)
			for k := range res.dim {
				res.dim[k] -= c.dim[k]
			}
		}
		if p.i >= len(p.s) || (p.s[p.i] != '.' && p.s[p.i] != '/') {
			return res, true
		}
		op = p.s[p.i]
		p.i++
	}
}

func (p *unitParser) component(depth int) (unitDef, bool) {
	if p.i >= len(p.s) {
		return unitDef{}, false
	}
	if p.s[p.i] == '(' {
		p.i++
		d, ok := p.term(depth + 1)
		if !ok || p.i >= len(p.s) || p.s[p.i] != ')' {
			return unitDef{}, false
		}
		p.i++
		return p.exponent(d)
	}
	if p.s[p.i] == '{' {
		end := strings.IndexByte(p.s[p.i:], '}')
		if end < 0 {
			return unitDef{}, false
		}
		p.i += end + 1
		return unitDef{factor: big.NewRat(1, 1)}, true
	}
	// A simple unit runs to the next '.', '/', '(' , ')' or '{' outside
	// brackets.
	start := p.i
	inBracket := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '[' {
			inBracket = true
		} else if c == ']' {
			inBracket = false
		} else if !inBracket && (c == '.' || c == '/' || c == '(' || c == ')' || c == '{') {
			break
		}
		p.i++
	}
	text := p.s[start:p.i]
	// An annotation may follow directly.
	if p.i < len(p.s) && p.s[p.i] == '{' {
		end := strings.IndexByte(p.s[p.i:], '}')
		if end < 0 {
			return unitDef{}, false
		}
		p.i += end + 1
	}
	if isAllDigits(text) {
		v, ok := new(big.Rat).SetString(text)
		if !ok || v.Sign() <= 0 {
			return unitDef{}, false
		}
		return unitDef{factor: v}, true
	}
	// Split a trailing exponent (digits with an optional sign), except
	// inside brackets.
	j := len(text)
	for j > 0 && isDigit(text[j-1]) {
		j--
	}
	if j > 0 && j < len(text) && (text[j-1] == '+' || text[j-1] == '-') {
		j--
	}
	name, expText := text[:j], text[j:]
	if name == "" {
		return unitDef{}, false
	}
	d, ok := simpleUnit(name)
	if !ok {
		return unitDef{}, false
	}
	if expText == "" {
		return d, true
	}
	e, err := strconv.Atoi(expText)
	if err != nil || e > 24 || e < -24 {
		return unitDef{}, false
	}
	return powUnit(d, e), true
}

func (p *unitParser) exponent(d unitDef) (unitDef, bool) {
	start := p.i
	if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
		p.i++
	}
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return d, true
	}
	e, err := strconv.Atoi(p.s[start:p.i])
	if err != nil || e > 24 || e < -24 {
		return unitDef{}, false
	}
	return powUnit(d, e), true
}

func powUnit(d unitDef, e int) unitDef {
	f := big.NewRat(1, 1)
	for i := 0; i < abs(e); i++ {
		f.Mul(f, d.factor)
	}
	if e < 0 {
		if f.Sign() == 0 {
			return unitDef{factor: f}
		}
		f.Inv(f)
	}
	var dim dimension
	for k := range dim {
		dim[k] = d.dim[k] * int8(e)
	}
	return unitDef{factor: f, dim: dim}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// simpleUnit resolves an atom, optionally with a metric prefix.
func simpleUnit(name string) (unitDef, bool) {
	if d, ok := ucumAtoms[name]; ok {
		return d, true
	}
	for _, n := range [2]int{2, 1} {
		if len(name) <= n {
			continue
		}
		pf, ok := ucumPrefixes[name[:n]]
		if !ok {
			continue
		}
		if d, ok := ucumAtoms[name[n:]]; ok && d.factor != nil {
			return unitDef{factor: new(big.Rat).Mul(pf, d.factor), dim: d.dim}, true
		}
	}
	return unitDef{}, false
}

// quantityUnit is a quantity unit normalised for comparison.
type quantityUnit struct {
	calendar calendarUnit // cuYear or cuMonth for calendar years and months
	def      unitDef
	known    bool   // def is valid
	code     string // the unit code, for units outside the table
}

// resolveQuantityUnit classifies a unit. Calendar keywords for week and
// finer equal their UCUM units; calendar years and months are only
// comparable with each other.
func resolveQuantityUnit(unit string) quantityUnit {
	if cu, ok := calendarKeywords[unit]; ok {
		switch cu {
		case cuYear:
			return quantityUnit{calendar: cuYear}
		case cuMonth:
			return quantityUnit{calendar: cuMonth}
		}
		unit = map[calendarUnit]string{cuWeek: "wk", cuDay: "d", cuHour: "h", cuMinute: "min", cuSecond: "s", cuMillisecond: "ms"}[cu]
	}
	if unit == "" {
		unit = "1"
	}
	if d, ok := parseUnit(unit); ok {
		return quantityUnit{def: d, known: true, code: unit}
	}
	return quantityUnit{code: unit}
}

// unitFactors returns the factors that convert values in units a and b to
// a common unit, or ok=false if they are not comparable.
func unitFactors(a, b quantityUnit) (fa, fb *big.Rat, ok bool) {
	switch {
	case a.calendar != cuNone || b.calendar != cuNone:
		if a.calendar == cuNone || b.calendar == cuNone {
			return nil, nil, false
		}
		months := func(c calendarUnit) *big.Rat {
			if c == cuYear {
				return big.NewRat(12, 1)
			}
			return big.NewRat(1, 1)
		}
		return months(a.calendar), months(b.calendar), true
	case a.known && b.known:
		if a.def.dim != b.def.dim {
			return nil, nil, false
		}
		return a.def.factor, b.def.factor, true
	case !a.known && !b.known && a.code == b.code:
		one := big.NewRat(1, 1)
		return one, one, true
	}
	return nil, nil, false
}
