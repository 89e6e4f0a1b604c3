package fhir

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// primKind identifies a primitive type for the hand-written format checks.
// Each check accepts exactly what the official regex (kept in the embedded
// definitions, see TestPrimitiveChecksMatchRegexes) accepts, plus the
// rules the regexes cannot express: real calendar dates, 32-bit integer
// ranges, padding in base64 and the 1 MB string limit.
type primKind uint8

const (
	primOther primKind = iota
	primBase64Binary
	primBoolean
	primCanonical
	primCode
	primDate
	primDateTime
	primDecimal
	primID
	primInstant
	primInteger
	primMarkdown
	primOID
	primPositiveInt
	primString
	primTime
	primUnsignedInt
	primURI
	primURL
	primUUID
	primXHTML
)

func primKindOf(name string) primKind {
	switch name {
	case "base64Binary":
		return primBase64Binary
	case "boolean":
		return primBoolean
	case "canonical":
		return primCanonical
	case "code":
		return primCode
	case "date":
		return primDate
	case "dateTime":
		return primDateTime
	case "decimal":
		return primDecimal
	case "id":
		return primID
	case "instant":
		return primInstant
	case "integer":
		return primInteger
	case "markdown":
		return primMarkdown
	case "oid":
		return primOID
	case "positiveInt":
		return primPositiveInt
	case "string":
		return primString
	case "time":
		return primTime
	case "unsignedInt":
		return primUnsignedInt
	case "uri":
		return primURI
	case "url":
		return primURL
	case "uuid":
		return primUUID
	case "xhtml":
		return primXHTML
	}
	return primOther
}

// maxStringBytes is the largest string value FHIR allows (1 MB).
const maxStringBytes = 1 << 20

// checkPrimitive checks the JSON type and format of a primitive value. It
// returns the OperationOutcome issue code and a message that does not
// quote the value, or "" when the value is valid.
func checkPrimitive(k primKind, v any) (code, msg string) {
	switch k {
	case primBoolean:
		if _, ok := v.(bool); !ok {
			return "structure", "a boolean must be a JSON true or false"
		}
		return "", ""
	case primInteger, primPositiveInt, primUnsignedInt, primDecimal:
		lit, ok := numberText(v)
		if !ok {
			return "structure", "a " + primName(k) + " must be a JSON number"
		}
		if k == primDecimal {
			if !validDecimal(lit) {
				return "value", "invalid decimal"
			}
			return "", ""
		}
		n, ok := parseInt32(lit)
		switch {
		case ok && k != primInteger && lit[0] == '-':
			return "value", "invalid " + primName(k) + ": must not be negative"
		case !ok:
			return "value", "invalid " + primName(k) + ": a whole number in the 32-bit range is required"
		case k == primPositiveInt && n < 1:
			return "value", "invalid positiveInt: must be at least 1"
		case k == primUnsignedInt && n < 0:
			return "value", "invalid unsignedInt: must not be negative"
		}
		return "", ""
	}

	s, ok := v.(string)
	if !ok {
		return "structure", "a " + primName(k) + " must be a JSON string"
	}
	if len(s) > maxStringBytes {
		return "too-long", "value is longer than the 1 MB FHIR allows"
	}
	if s == "" {
		return "value", "a value must not be empty: omit the property instead"
	}
	valid := true
	switch k {
	case primBase64Binary:
		valid = validBase64(s)
	case primCanonical, primURI, primURL:
		valid = !hasXMLSpace(s)
	case primCode:
		valid = validCode(s)
	case primDate:
		valid = validDate(s)
	case primDateTime:
		valid = validDateTime(s)
		if !valid && strings.IndexByte(s, 'T') > 0 && validDateTimeNoZone(s) {
			return "value", "invalid dateTime: a time needs a timezone"
		}
	case primID:
		valid = ValidID(s)
	case primInstant:
		valid = validInstant(s)
	case primMarkdown, primString, primXHTML:
		valid = validString(s)
	case primOID:
		valid = validOID(s)
	case primTime:
		valid = validTime(s)
	case primUUID:
		valid = validUUID(s)
	}
	if !valid {
		return "value", "invalid " + primName(k) + " format"
	}
	return "", ""
}

func primName(k primKind) string {
	switch k {
	case primBase64Binary:
		return "base64Binary"
	case primBoolean:
		return "boolean"
	case primCanonical:
		return "canonical"
	case primCode:
		return "code"
	case primDate:
		return "date"
	case primDateTime:
		return "dateTime"
	case primDecimal:
		return "decimal"
	case primID:
		return "id"
	case primInstant:
		return "instant"
	case primInteger:
		return "integer"
	case primMarkdown:
		return "markdown"
	case primOID:
		return "oid"
	case primPositiveInt:
		return "positiveInt"
	case primString:
		return "string"
	case primTime:
		return "time"
	case primUnsignedInt:
		return "unsignedInt"
	case primURI:
		return "uri"
	case primURL:
		return "url"
	case primUUID:
		return "uuid"
	case primXHTML:
		return "xhtml"
	}
	return "value"
}

// numberText returns the literal text of a JSON number in the model.
// Values built in Go (int, float64) are accepted too.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case int:
		return itoa(int64(x)), true
	case int64:
		return itoa(x), true
	case float64:
		b, err := AppendJSON(nil, x)
		return string(b), err == nil
	}
	return "", false
}

func itoa(n int64) string {
	var buf [24]byte
	i := len(buf)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// validDecimal matches -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?,
// which is also the JSON number grammar.
func validDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits(s, i, 1) {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits(s, i, 1) {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// parseInt32 parses -?(0|[1-9][0-9]*) within the signed 32-bit range.
func parseInt32(s string) (int64, bool) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if n < -2147483648 || n > 2147483647 {
		return 0, false
	}
	return n, true
}

// isXMLSpace reports the characters \s and \S in the definitions' (Java)
// regexes treat as white space.
func isXMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func hasXMLSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if isXMLSpace(s[i]) {
			return true
		}
	}
	return false
}

// validString matches [ \r\n\t\S]+: any text without form feeds or
// vertical tabs.
func validString(s string) bool {
	return s != "" && strings.IndexByte(s, '\f') < 0 && strings.IndexByte(s, '\v') < 0
}

// validCode matches [^\s]+(\s[^\s]+)*: no leading, trailing or repeated
// white space.
func validCode(s string) bool {
	if s == "" || isXMLSpace(s[0]) || isXMLSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isXMLSpace(s[i]) && isXMLSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// validOID matches urn:oid:[0-2](\.(0|[1-9][0-9]*))+.
func validOID(s string) bool {
	rest, ok := strings.CutPrefix(s, "urn:oid:")
	if !ok || len(rest) < 3 || rest[0] < '0' || rest[0] > '2' {
		return false
	}
	rest = rest[1:]
	for rest != "" {
		if rest[0] != '.' {
			return false
		}
		rest = rest[1:]
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || (n > 1 && rest[0] == '0') {
			return false
		}
		rest = rest[n:]
	}
	return true
}

// validUUID matches urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}.
func validUUID(s string) bool {
	rest, ok := strings.CutPrefix(s, "urn:uuid:")
	return ok && validUUIDText(rest)
}

func validUUIDText(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// validBase64 accepts standard base64 (RFC 4648 section 4, with padding),
// allowing white space between groups of four characters as the R4 regex
// does.
func validBase64(s string) bool {
	n, pad := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isXMLSpace(c):
			if n%4 != 0 {
				return false
			}
			continue
		case c == '=':
			pad++
			if pad > 2 {
				return false
			}
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/':
			if pad > 0 {
				return false
			}
		default:
			return false
		}
		n++
	}
	return n > 0 && n%4 == 0
}

// base64Len returns the decoded length of valid base64 text.
func base64Len(s string) int {
	n, pad := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isXMLSpace(c):
		case c == '=':
			pad++
			n++
		default:
			n++
		}
	}
	return n/4*3 - pad
}

func digits(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for j := i; j < i+n; j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	return true
}

func num(s string, i, n int) int {
	v := 0
	for j := i; j < i+n; j++ {
		v = v*10 + int(s[j]-'0')
	}
	return v
}

// dateLen returns the length of a valid YYYY, YYYY-MM or YYYY-MM-DD prefix
// of s (0 if none), and whether it is a full date. The year is 0001-9999;
// the day must exist in the month.
func dateLen(s string) (n int, full bool) {
	if !digits(s, 0, 4) || num(s, 0, 4) == 0 {
		return 0, false
	}
	if len(s) == 4 || s[4] != '-' {
		return 4, false
	}
	if !digits(s, 5, 2) {
		return 0, false
	}
	month := num(s, 5, 2)
	if month < 1 || month > 12 {
		return 0, false
	}
	if len(s) == 7 || s[7] != '-' {
		return 7, false
	}
	if !digits(s, 8, 2) {
		return 0, false
	}
	day := num(s, 8, 2)
	if day < 1 || day > daysIn(num(s, 0, 4), month) {
		return 0, false
	}
	return 10, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// timeLen returns the length of a valid hh:mm:ss(.f+)? prefix of s.
func timeLen(s string) int {
	if len(s) < 8 || !digits(s, 0, 2) || s[2] != ':' || !digits(s, 3, 2) || s[5] != ':' || !digits(s, 6, 2) {
		return 0
	}
	if num(s, 0, 2) > 23 || num(s, 3, 2) > 59 || num(s, 6, 2) > 60 {
		return 0
	}
	n := 8
	if n < len(s) && s[n] == '.' {
		j := n + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == n+1 {
			return 0
		}
		n = j
	}
	return n
}

// validZone matches Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00).
func validZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || !digits(s, 1, 2) || s[3] != ':' || !digits(s, 4, 2) {
		return false
	}
	h, m := num(s, 1, 2), num(s, 4, 2)
	return h <= 13 && m <= 59 || h == 14 && m == 0
}

func validDate(s string) bool {
	n, _ := dateLen(s)
	return n > 0 && n == len(s)
}

func validDateTime(s string) bool {
	n, full := dateLen(s)
	if n == 0 {
		return false
	}
	if n == len(s) {
		return true
	}
	if !full || s[n] != 'T' {
		return false
	}
	t := timeLen(s[n+1:])
	return t > 0 && validZone(s[n+1+t:])
}

// validDateTimeNoZone reports a date with a valid time but no timezone,
// to give a precise message.
func validDateTimeNoZone(s string) bool {
	n, full := dateLen(s)
	if !full || len(s) <= n || s[n] != 'T' {
		return false
	}
	return timeLen(s[n+1:]) == len(s)-n-1
}

func validInstant(s string) bool {
	n, full := dateLen(s)
	if !full || len(s) <= n || s[n] != 'T' {
		return false
	}
	t := timeLen(s[n+1:])
	return t > 0 && validZone(s[n+1+t:])
}

func validTime(s string) bool {
	n := timeLen(s)
	return n > 0 && n == len(s)
}

// looksLikeHTML reports text that contains something shaped like an HTML
// tag: '<', a letter, word characters, then optional white-space separated
// words, then '>' (the rule of the reference validator's security checks).
// "a < b and c > d" and "<5 mg>" do not match; "<script>" and "<b x=1>" do.
func looksLikeHTML(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return false
		}
		s = s[i+1:]
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return false
		}
		next := strings.IndexByte(s, '<')
		if next >= 0 && next < end {
			continue // another '<' before the '>': try from there
		}
		if tagLike(s[:end]) {
			return true
		}
	}
}

// tagLike matches [a-zA-Z]\w*((\s+)(\S)*)*.
func tagLike(s string) bool {
	if s == "" {
		return false
	}
	r, size := utf8.DecodeRuneInString(s)
	if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
		return false
	}
	i := size
	for i < len(s) && isWordChar(s[i]) {
		i++
	}
	// The rest must start with white space (or be empty); after that
	// anything goes, since (\s+\S*)* covers every string that starts
	// with white space.
	return i == len(s) || isXMLSpace(s[i])
}

func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
