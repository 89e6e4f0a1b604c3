package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Precision is how much of a Date, DateTime or Time is known.
type Precision uint8

// Precisions, coarsest first. PrecisionMillisecond means fractional seconds
// are present (to any number of digits).
const (
	PrecisionYear Precision = iota + 1
	PrecisionMonth
	PrecisionDay
	PrecisionHour
	PrecisionMinute
	PrecisionSecond
	PrecisionMillisecond
)

// Date is a System.Date: a calendar date known to year, month or day.
// Fields beyond Precision are zero.
type Date struct {
	Year, Month, Day int
	Precision        Precision // PrecisionYear, PrecisionMonth or PrecisionDay
}

// DateTime is a System.DateTime known to Precision. HasZone reports
// whether a time-zone offset was given; ZoneOffset is then in seconds east
// of UTC. A DateTime at day precision or coarser never has a zone.
type DateTime struct {
	Year, Month, Day                 int
	Hour, Minute, Second, Nanosecond int
	Precision                        Precision
	HasZone                          bool
	ZoneOffset                       int
}

// Time is a System.Time (a time of day, without zone) known to Precision
// (PrecisionHour to PrecisionMillisecond).
type Time struct {
	Hour, Minute, Second, Nanosecond int
	Precision                        Precision
}

// String formats d as in FHIR (2014, 2014-03, 2014-03-25).
func (d Date) String() string {
	var b []byte
	b = appendDatePart(b, d.Year, d.Month, d.Day, d.Precision)
	return string(b)
}

// String formats t as in FHIR: 2014-03-25T10:30:00.000+02:00. A DateTime at
// day precision or coarser prints like a Date.
func (t DateTime) String() string {
	b := appendDatePart(nil, t.Year, t.Month, t.Day, t.Precision)
	if t.Precision <= PrecisionDay {
		return string(b)
	}
	b = append(b, 'T')
	b = appendTimePart(b, t.Hour, t.Minute, t.Second, t.Nanosecond, t.Precision)
	if t.HasZone {
		b = appendZone(b, t.ZoneOffset)
	}
	return string(b)
}

// String formats t as hh:mm:ss.fff, to its precision.
func (t Time) String() string {
	return string(appendTimePart(nil, t.Hour, t.Minute, t.Second, t.Nanosecond, t.Precision))
}

func appendDatePart(b []byte, y, m, d int, p Precision) []byte {
	b = appendInt(b, y, 4)
	if p >= PrecisionMonth {
		b = append(b, '-')
		b = appendInt(b, m, 2)
	}
	if p >= PrecisionDay {
		b = append(b, '-')
		b = appendInt(b, d, 2)
	}
	return b
}

func appendTimePart(b []byte, h, mi, s, ns int, p Precision) []byte {
	b = appendInt(b, h, 2)
	if p >= PrecisionMinute {
		b = append(b, ':')
		b = appendInt(b, mi, 2)
	}
	if p >= PrecisionSecond {
		b = append(b, ':')
		b = appendInt(b, s, 2)
	}
	if p >= PrecisionMillisecond {
		b = append(b, '.')
		frac := fmt.Sprintf("%09d", ns)
		frac = strings.TrimRight(frac, "0")
		for len(frac) < 3 {
			frac += "0"
		}
		b = append(b, frac...)
	}
	return b
}

func appendZone(b []byte, off int) []byte {
	if off == 0 {
		return append(b, 'Z')
	}
	if off < 0 {
		b = append(b, '-')
		off = -off
	} else {
		b = append(b, '+')
	}
	b = appendInt(b, off/3600, 2)
	b = append(b, ':')
	return appendInt(b, off/60%60, 2)
}

func appendInt(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// maxZoneOffset is the largest time-zone offset accepted (±14:00).
const maxZoneOffset = 14 * 3600

// parseDate parses YYYY, YYYY-MM or YYYY-MM-DD.
func parseDate(s string) (Date, bool) {
	dt, rest, ok := parseDatePart(s)
	if !ok || rest != "" {
		return Date{}, false
	}
	return Date{Year: dt.Year, Month: dt.Month, Day: dt.Day, Precision: dt.Precision}, true
}

// parseDateTime parses a FHIR date, dateTime or instant, and also the
// FHIRPath literal forms (2015T, 2015-02-04T14, 2015-02-04T14:34+10:00).
func parseDateTime(s string) (DateTime, bool) {
	dt, rest, ok := parseDatePart(s)
	if !ok {
		return DateTime{}, false
	}
	if rest == "" {
		return dt, true
	}
	if rest[0] != 'T' {
		return DateTime{}, false
	}
	rest = rest[1:]
	if rest == "" {
		return dt, true // 2015-02-04T: a DateTime to the day
	}
	if dt.Precision != PrecisionDay {
		return DateTime{}, false
	}
	t, rest, ok := parseTimePart(rest)
	if !ok {
		return DateTime{}, false
	}
	dt.Hour, dt.Minute, dt.Second, dt.Nanosecond, dt.Precision = t.Hour, t.Minute, t.Second, t.Nanosecond, t.Precision
	if rest != "" {
		off, ok := parseZone(rest)
		if !ok {
			return DateTime{}, false
		}
		dt.HasZone, dt.ZoneOffset = true, off
	}
	return dt, true
}

// parseTime parses hh, hh:mm, hh:mm:ss or hh:mm:ss.fff.
func parseTime(s string) (Time, bool) {
	t, rest, ok := parseTimePart(s)
	if !ok || rest != "" {
		return Time{}, false
	}
	return t, true
}

func parseDatePart(s string) (DateTime, string, bool) {
	var dt DateTime
	y, ok := fixedDigits(s, 4)
	if !ok {
		return dt, "", false
	}
	dt.Year, dt.Month, dt.Day, dt.Precision = y, 1, 1, PrecisionYear
	s = s[4:]
	if len(s) >= 3 && s[0] == '-' {
		m, ok := fixedDigits(s[1:], 2)
		if !ok || m < 1 || m > 12 {
			return dt, "", false
		}
		dt.Month, dt.Precision = m, PrecisionMonth
		s = s[3:]
		if len(s) >= 3 && s[0] == '-' {
			d, ok := fixedDigits(s[1:], 2)
			if !ok || d < 1 || d > daysIn(y, m) {
				return dt, "", false
			}
			dt.Day, dt.Precision = d, PrecisionDay
			s = s[3:]
		}
	}
	return dt, s, true
}

func parseTimePart(s string) (Time, string, bool) {
	var t Time
	h, ok := fixedDigits(s, 2)
	if !ok || h > 23 {
		return t, "", false
	}
	t.Hour, t.Precision = h, PrecisionHour
	s = s[2:]
	if len(s) >= 3 && s[0] == ':' {
		m, ok := fixedDigits(s[1:], 2)
		if !ok || m > 59 {
			return t, "", false
		}
		t.Minute, t.Precision = m, PrecisionMinute
		s = s[3:]
		if len(s) >= 3 && s[0] == ':' {
			sec, ok := fixedDigits(s[1:], 2)
			if !ok || sec > 59 {
				return t, "", false
			}
			t.Second, t.Precision = sec, PrecisionSecond
			s = s[3:]
			if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
				i := 1
				for i < len(s) && isDigit(s[i]) {
					i++
				}
				frac := s[1:i]
				if len(frac) > 9 {
					frac = frac[:9]
				}
				ns, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
				t.Nanosecond, t.Precision = ns, PrecisionMillisecond
				s = s[i:]
			}
		}
	}
	return t, s, true
}

func parseZone(s string) (int, bool) {
	if s == "Z" {
		return 0, true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	h, ok1 := fixedDigits(s[1:], 2)
	m, ok2 := fixedDigits(s[4:], 2)
	if !ok1 || !ok2 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if off > maxZoneOffset {
		return 0, false
	}
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

func fixedDigits(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func (d Date) dateTime() DateTime {
	return DateTime{Year: d.Year, Month: d.Month, Day: d.Day, Precision: d.Precision}
}

func (t DateTime) date() Date {
	p := t.Precision
	if p > PrecisionDay {
		p = PrecisionDay
	}
	d := Date{Year: t.Year, Precision: p}
	if p >= PrecisionMonth {
		d.Month = t.Month
	}
	if p >= PrecisionDay {
		d.Day = t.Day
	}
	return d
}

// goTime returns t as a time.Time, with missing fields at their minimum and
// a missing zone taken as UTC.
func (t DateTime) goTime() time.Time {
	m, d := t.Month, t.Day
	if m == 0 {
		m = 1
	}
	if d == 0 {
		d = 1
	}
	loc := time.UTC
	if t.HasZone && t.ZoneOffset != 0 {
		loc = time.FixedZone("", t.ZoneOffset)
	}
	return time.Date(t.Year, time.Month(m), d, t.Hour, t.Minute, t.Second, t.Nanosecond, loc)
}

// fromGoTime copies the fields of g (in its own zone) up to precision p.
func fromGoTime(g time.Time, p Precision, hasZone bool) DateTime {
	dt := DateTime{Year: g.Year(), Precision: p, HasZone: hasZone}
	if hasZone {
		_, dt.ZoneOffset = g.Zone()
	}
	if p >= PrecisionMonth {
		dt.Month = int(g.Month())
	}
	if p >= PrecisionDay {
		dt.Day = g.Day()
	}
	if p >= PrecisionHour {
		dt.Hour = g.Hour()
	}
	if p >= PrecisionMinute {
		dt.Minute = g.Minute()
	}
	if p >= PrecisionSecond {
		dt.Second = g.Second()
	}
	if p >= PrecisionMillisecond {
		dt.Nanosecond = g.Nanosecond()
	}
	return dt
}

// toUTC shifts t with a zone to UTC (offset 0), keeping its precision.
func (t DateTime) toUTC() DateTime {
	if !t.HasZone || t.ZoneOffset == 0 {
		return t
	}
	return fromGoTime(t.goTime().UTC(), t.Precision, true)
}

// withZone returns t (without zone) as if it had offset off, in UTC.
func (t DateTime) withZone(off int) DateTime {
	t.HasZone, t.ZoneOffset = true, off
	return t.toUTC()
}

// level folds PrecisionMillisecond into PrecisionSecond: FHIRPath compares
// seconds and milliseconds as one decimal seconds component.
func level(p Precision) Precision {
	if p == PrecisionMillisecond {
		return PrecisionSecond
	}
	return p
}

// compareDateTime compares a and b component by component. ok is false
// when the result is unknown: equal up to the coarser precision, or a
// zone-less time within the span of possible offsets of a zoned one.
func compareDateTime(a, b DateTime) (int, bool) {
	if a.Precision >= PrecisionHour && b.Precision >= PrecisionHour && a.HasZone != b.HasZone {
		// The zone-less value may be in any zone from -12:00 to +14:00.
		if a.HasZone {
			c1, ok1 := compareFields(a.toUTC(), b.withZone(maxZoneOffset))
			c2, ok2 := compareFields(a.toUTC(), b.withZone(-12*3600))
			if ok1 && ok2 && c1 == c2 && c1 != 0 {
				return c1, true
			}
			return 0, false
		}
		c, ok := compareDateTime(b, a)
		return -c, ok
	}
	if a.HasZone && b.HasZone && a.Precision >= PrecisionHour && b.Precision >= PrecisionHour {
		a, b = a.toUTC(), b.toUTC()
	}
	return compareFields(a, b)
}

func compareFields(a, b DateTime) (int, bool) {
	pa, pb := level(a.Precision), level(b.Precision)
	fa := [...]int{a.Year, a.Month, a.Day, a.Hour, a.Minute}
	fb := [...]int{b.Year, b.Month, b.Day, b.Hour, b.Minute}
	for i, p := 0, PrecisionYear; p <= PrecisionMinute; i, p = i+1, p+1 {
		if pa < p || pb < p {
			if pa < p && pb < p {
				return 0, true
			}
			return 0, false
		}
		if fa[i] != fb[i] {
			return cmpInt(fa[i], fb[i]), true
		}
	}
	if pa < PrecisionSecond || pb < PrecisionSecond {
		if pa < PrecisionSecond && pb < PrecisionSecond {
			return 0, true
		}
		return 0, false
	}
	return cmpInt(a.Second*1e9+a.Nanosecond, b.Second*1e9+b.Nanosecond), true
}

func compareTime(a, b Time) (int, bool) {
	da := DateTime{Hour: a.Hour, Minute: a.Minute, Second: a.Second, Nanosecond: a.Nanosecond, Precision: a.Precision}
	db := DateTime{Hour: b.Hour, Minute: b.Minute, Second: b.Second, Nanosecond: b.Nanosecond, Precision: b.Precision}
	return compareFields(da, db)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// calendarUnit identifies the unit of a time-valued quantity in date
// arithmetic.
type calendarUnit uint8

const (
	cuNone calendarUnit = iota
	cuYear
	cuMonth
	cuWeek
	cuDay
	cuHour
	cuMinute
	cuSecond
	cuMillisecond
)

// calendarKeywords maps the FHIRPath calendar duration keywords.
var calendarKeywords = map[string]calendarUnit{
	"year": cuYear, "years": cuYear, "month": cuMonth, "months": cuMonth,
	"week": cuWeek, "weeks": cuWeek, "day": cuDay, "days": cuDay,
	"hour": cuHour, "hours": cuHour, "minute": cuMinute, "minutes": cuMinute,
	"second": cuSecond, "seconds": cuSecond, "millisecond": cuMillisecond, "milliseconds": cuMillisecond,
}

// arithmeticUnit returns the calendar unit a quantity unit stands for in
// date arithmetic. The UCUM units 'a' and 'mo' have no fixed calendar
// length and are refused, as is anything that is not a time unit.
func arithmeticUnit(unit string) (calendarUnit, bool) {
	if u, ok := calendarKeywords[unit]; ok {
		return u, true
	}
	switch unit {
	case "wk":
		return cuWeek, true
	case "d":
		return cuDay, true
	case "h":
		return cuHour, true
	case "min":
		return cuMinute, true
	case "s":
		return cuSecond, true
	case "ms":
		return cuMillisecond, true
	}
	return cuNone, false
}

// maxDateShift bounds the amount added to a date (in the given unit) so
// time arithmetic cannot overflow.
const maxDateShift = 1 << 40

// addDuration adds n units to t, keeping its precision and zone. Months and
// years keep the day of month, clamped to the length of the target month.
func addDuration(t DateTime, n int64, u calendarUnit) (DateTime, bool) {
	if n > maxDateShift || n < -maxDateShift {
		return DateTime{}, false
	}
	// Units finer than the value's precision are converted to it.
	switch {
	case u == cuMonth && t.Precision == PrecisionYear:
		n, u = n/12, cuYear
	case u >= cuWeek && t.Precision <= PrecisionDay:
		if u == cuWeek {
			n, u = n*7, cuDay
		}
		switch u {
		case cuHour:
			n = n / 24
		case cuMinute:
			n = n / (24 * 60)
		case cuSecond:
			n = n / (24 * 3600)
		case cuMillisecond:
			n = n / (24 * 3600 * 1000)
		}
		u = cuDay
		if t.Precision < PrecisionDay {
			// Days cannot be expressed in months or years exactly.
			n = 0
		}
	}
	if u == cuYear || u == cuMonth {
		months := int64(t.Year)*12 + int64(max(t.Month, 1)-1)
		if u == cuYear {
			months += n * 12
		} else {
			months += n
		}
		y := months / 12
		if months < 0 && months%12 != 0 {
			y--
		}
		m := int(months-y*12) + 1
		if y < 1 || y > 9999 {
			return DateTime{}, false
		}
		t.Year = int(y)
		if t.Precision >= PrecisionMonth {
			t.Month = m
		}
		if t.Precision >= PrecisionDay && t.Day > daysIn(t.Year, m) {
			t.Day = daysIn(t.Year, m)
		}
		return t, true
	}
	g := t.goTime()
	// Whole days go through AddDate and only the remainder through a
	// Duration, which cannot hold more than 292 years.
	var perDay int64
	var unit time.Duration
	switch u {
	case cuWeek:
		n, perDay, unit = n*7, 1, 24*time.Hour
	case cuDay:
		perDay, unit = 1, 24*time.Hour
	case cuHour:
		perDay, unit = 24, time.Hour
	case cuMinute:
		perDay, unit = 24*60, time.Minute
	case cuSecond:
		perDay, unit = 24*3600, time.Second
	case cuMillisecond:
		perDay, unit = 24*3600*1000, time.Millisecond
	}
	g = g.AddDate(0, 0, int(n/perDay)).Add(time.Duration(n%perDay) * unit)
	if g.Year() < 1 || g.Year() > 9999 {
		return DateTime{}, false
	}
	return fromGoTime(g, t.Precision, t.HasZone), true
}

// addTime adds n units (hours or finer) to a time of day, wrapping at
// midnight.
func addTime(t Time, n int64, u calendarUnit) (Time, bool) {
	var d time.Duration
	switch u {
	case cuHour:
		d = time.Hour
	case cuMinute:
		d = time.Minute
	case cuSecond:
		d = time.Second
	case cuMillisecond:
		d = time.Millisecond
	default:
		return Time{}, false
	}
	if n > maxDateShift || n < -maxDateShift {
		return Time{}, false
	}
	const day = 24 * time.Hour
	cur := time.Duration(t.Hour)*time.Hour + time.Duration(t.Minute)*time.Minute +
		time.Duration(t.Second)*time.Second + time.Duration(t.Nanosecond)
	shift := (time.Duration(n%int64(day/d)) * d) % day
	cur = ((cur+shift)%day + day) % day
	r := Time{Precision: t.Precision}
	r.Hour = int(cur / time.Hour)
	if t.Precision >= PrecisionMinute {
		r.Minute = int(cur % time.Hour / time.Minute)
	}
	if t.Precision >= PrecisionSecond {
		r.Second = int(cur % time.Minute / time.Second)
	}
	if t.Precision >= PrecisionMillisecond {
		r.Nanosecond = int(cur % time.Second)
	}
	return r, true
}
