package search

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/hestiahealth/hestia/internal/store"
)

// Normalize folds a string for the default and :contains string searches:
// accents removed, case folded, runs of white space collapsed to one space.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				space = b.Len() > 0
				continue
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue // combining mark: the accent of a decomposed letter
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// dateRange returns the closed range [lo, hi] in microseconds covered by a
// FHIR date, dateTime or instant at its precision: "2013" covers the whole
// year. A time without a zone is taken as UTC.
func dateRange(s string) (lo, hi int64, err error) {
	t, next, err := parseFHIRTime(s)
	if err != nil {
		return 0, 0, err
	}
	return t.UnixMicro(), next.UnixMicro() - 1, nil
}

var errBadDate = errors.New("invalid date")

// parseFHIRTime parses a FHIR date/dateTime/instant and returns its start
// and the start of the next period at the same precision.
func parseFHIRTime(s string) (start, next time.Time, err error) {
	n := len(s)
	num := func(a, b int) (int, bool) {
		if b > n {
			return 0, false
		}
		v := 0
		for i := a; i < b; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			v = v*10 + int(s[i]-'0')
		}
		return v, true
	}
	y, ok := num(0, 4)
	if !ok || y == 0 && n >= 4 && s[:4] == "0000" {
		return start, next, errBadDate
	}
	if n == 4 {
		start = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0), nil
	}
	if n < 7 || s[4] != '-' {
		return start, next, errBadDate
	}
	m, ok := num(5, 7)
	if !ok || m < 1 || m > 12 {
		return start, next, errBadDate
	}
	if n == 7 {
		start = time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), nil
	}
	if n < 10 || s[7] != '-' {
		return start, next, errBadDate
	}
	d, ok := num(8, 10)
	if !ok || d < 1 || d > daysIn(y, m) {
		return start, next, errBadDate
	}
	if n == 10 {
		start = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1), nil
	}
	if s[10] != 'T' {
		return start, next, errBadDate
	}
	rest := s[11:]
	// Split off the zone.
	loc := time.UTC
	if strings.HasSuffix(rest, "Z") {
		rest = rest[:len(rest)-1]
	} else if i := strings.LastIndexAny(rest, "+-"); i > 0 {
		zone := rest[i:]
		rest = rest[:i]
		if len(zone) != 6 || zone[3] != ':' {
			return start, next, errBadDate
		}
		zh, ok1 := atoi2(zone[1:3])
		zm, ok2 := atoi2(zone[4:6])
		if !ok1 || !ok2 || zh > 14 || zm > 59 {
			return start, next, errBadDate
		}
		off := zh*3600 + zm*60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	// hh:mm[:ss[.fff]]
	if len(rest) < 5 || rest[2] != ':' {
		return start, next, errBadDate
	}
	hh, ok1 := atoi2(rest[0:2])
	mm, ok2 := atoi2(rest[3:5])
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return start, next, errBadDate
	}
	if len(rest) == 5 {
		start = time.Date(y, time.Month(m), d, hh, mm, 0, 0, loc)
		return start.UTC(), start.Add(time.Minute).UTC(), nil
	}
	if len(rest) < 8 || rest[5] != ':' {
		return start, next, errBadDate
	}
	ss, ok := atoi2(rest[6:8])
	if !ok || ss > 60 {
		return start, next, errBadDate
	}
	if ss == 60 {
		ss = 59
	}
	frac := rest[8:]
	if frac == "" {
		start = time.Date(y, time.Month(m), d, hh, mm, ss, 0, loc)
		return start.UTC(), start.Add(time.Second).UTC(), nil
	}
	if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
		return start, next, errBadDate
	}
	digits := frac[1:]
	ns := 0
	for i := 0; i < 9; i++ {
		ns *= 10
		if i < len(digits) {
			c := digits[i]
			if c < '0' || c > '9' {
				return start, next, errBadDate
			}
			ns += int(c - '0')
		}
	}
	step := time.Duration(math.Pow10(9 - len(digits)))
	if step < time.Microsecond {
		step = time.Microsecond
	}
	start = time.Date(y, time.Month(m), d, hh, mm, ss, ns, loc)
	return start.UTC(), start.Add(step).UTC(), nil
}

func atoi2(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// decimalRange parses a decimal and returns its value and the half-open
// range [lo, hi) its precision implies: "100" is [99.5, 100.5), "1.50" is
// [1.495, 1.505), "1e2" is [50, 150).
func decimalRange(s string) (v, lo, hi float64, err error) {
	if s == "" || len(s) > 64 {
		return 0, 0, 0, errors.New("invalid number")
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, 0, 0, errors.New("invalid number")
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, 0, 0, errors.New("invalid number")
		}
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return 0, 0, 0, errors.New("invalid number")
		}
		exp = e
	}
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
	}
	half := 0.5 * math.Pow10(exp-decimals)
	return v, v - half, v + half, nil
}

// approx widens a range by 10% of the value for the ap prefix.
func approx(v, lo, hi float64) (float64, float64) {
	d := math.Abs(v) * 0.1
	return math.Min(lo, v-d), math.Max(hi, v+d)
}

// approxDates widens a date range for the ap prefix by 10% of the distance
// between the value and now (at least a day), as the specification suggests.
func approxDates(lo, hi int64, now time.Time) (int64, int64) {
	gap := now.UnixMicro() - lo
	if gap < 0 {
		gap = -gap
	}
	d := max(gap/10, int64(24*time.Hour/time.Microsecond))
	return lo - d, hi + d
}

var prefixes = map[string]store.Prefix{
	"eq": store.Eq, "ne": store.Ne, "gt": store.Gt, "lt": store.Lt, "ge": store.Ge,
	"le": store.Le, "sa": store.Sa, "eb": store.Eb, "ap": store.Ap,
}

// splitPrefix separates a comparison prefix from an ordered value.
func splitPrefix(v string) (store.Prefix, string) {
	if len(v) >= 3 {
		if p, ok := prefixes[v[:2]]; ok && (v[2] >= '0' && v[2] <= '9' || v[2] == '-' || v[2] == '.') {
			return p, v[2:]
		}
	}
	return store.Eq, v
}

// ParseTime parses a FHIR date, dateTime or instant and returns the start
// of the period it denotes and the start of the next one ("2013" gives
// 2013-01-01 and 2014-01-01).
func ParseTime(s string) (start, next time.Time, err error) { return parseFHIRTime(s) }
