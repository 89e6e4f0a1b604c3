package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// The generic JSON model. Parsed FHIR JSON is held as plain Go values:
//
//	object  map[string]any
//	array   []any
//	string  string (valid UTF-8)
//	number  json.Number (the literal text, so decimal precision is kept: 1.50 stays 1.50)
//	boolean bool
//	null    nil
//
// internal/fhirpath and internal/search consume the same model.

// Limits of Parse. The deepest official R4 example nests about 20 levels;
// a typical 16 MiB transaction Bundle holds about a million values; no
// official example has a number longer than 30 characters.
const (
	MaxDepth     = 100       // nesting of objects and arrays
	MaxValues    = 2_000_000 // values (objects, arrays, strings, numbers, literals) in one document
	MaxNumberLen = 128       // characters of one number literal
)

// SyntaxError reports malformed JSON. Its message never quotes the input,
// so it is safe to return to a client and to log.
type SyntaxError struct {
	Offset int // byte offset of the error
	Line   int // 1-based
	Column int // 1-based, in bytes
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// ErrNotResource is returned by ParseResource when the JSON is not an object
// with a string resourceType.
var ErrNotResource = errors.New("JSON is not a FHIR resource: an object with a resourceType string is required")

// Parse parses one JSON value. It rejects invalid UTF-8, duplicate object
// keys, nesting deeper than MaxDepth, lone surrogate escapes and trailing
// content. Numbers are kept as their literal text.
func Parse(data []byte) (any, error) {
	p := parser{data: data}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == 0xEF && strings.HasPrefix(string(p.data[p.pos:]), "\uFEFF") {
		p.pos += 3 // a UTF-8 byte order mark is tolerated
		p.skipSpace()
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected content after the end of the JSON value")
	}
	return v, nil
}

// ParseResource parses a JSON object that carries a resourceType.
func ParseResource(data []byte) (map[string]any, error) {
	v, err := Parse(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotResource
	}
	if _, ok := m["resourceType"].(string); !ok {
		return nil, ErrNotResource
	}
	return m, nil
}

type parser struct {
	data   []byte
	pos    int
	values int
}

func (p *parser) errorf(format string, args ...any) error {
	line, col := 1, 1
	end := min(p.pos, len(p.data))
	for _, c := range p.data[:end] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: p.pos, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	p.values++
	if p.values > MaxValues {
		return nil, p.errorf("more than %d values", MaxValues)
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= MaxDepth {
			return nil, p.errorf("nesting deeper than %d levels", MaxDepth)
		}
		return p.object(depth + 1)
	case c == '[':
		if depth >= MaxDepth {
			return nil, p.errorf("nesting deeper than %d levels", MaxDepth)
		}
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.errorf("unexpected character %q", printable(c))
	}
}

func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("\\x%02x", c)
}

func (p *parser) literal(word string) error {
	if !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		return p.errorf("invalid literal, expected %s", word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) object(depth int) (any, error) {
	p.pos++ // {
	m := make(map[string]any)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return m, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a property name in double quotes")
		}
		keyPos := p.pos
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			p.pos = keyPos
			return nil, p.errorf("duplicate property name")
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after a property name")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return m, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object")
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	p.pos++ // [
	a := make([]any, 0, 4)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return a, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return a, nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array")
		}
	}
}

func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	n := digits()
	if n == 0 {
		return nil, p.errorf("invalid number")
	}
	if n > 1 && p.data[intStart] == '0' {
		p.pos = intStart
		return nil, p.errorf("invalid number: leading zero")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("invalid number: digits expected after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid number: digits expected in the exponent")
		}
	}
	if p.pos-start > MaxNumberLen {
		p.pos = start
		return nil, p.errorf("number longer than %d characters", MaxNumberLen)
	}
	return json.Number(p.data[start:p.pos]), nil
}

func (p *parser) string() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes, all ASCII or valid UTF-8.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			if !utf8.Valid(s) {
				return "", p.errorf("invalid UTF-8 in a string")
			}
			p.pos++
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errorf("control character in a string")
		}
		p.pos++
	}
	if p.pos >= len(p.data) {
		return "", p.errorf("unterminated string")
	}
	// Slow path with escapes.
	if !utf8.Valid(p.data[start:p.pos]) {
		return "", p.errorf("invalid UTF-8 in a string")
	}
	buf := make([]byte, 0, p.pos-start+16)
	buf = append(buf, p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c == '\\':
			p.pos++
			if p.pos >= len(p.data) {
				return "", p.errorf("unterminated string")
			}
			e := p.data[p.pos]
			p.pos++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+2)]), `\u`) {
						return "", p.errorf("unpaired surrogate in a \\u escape")
					}
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", p.errorf("unpaired surrogate in a \\u escape")
					}
				}
				if r == 0 {
					// No FHIR string holds U+0000 (FHIR strings should have
					// no control characters but tab, CR and LF), and no
					// database text can: refused here, the same for every
					// storage driver.
					return "", p.errorf("a NUL character (\\u0000) in a string")
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.pos--
				return "", p.errorf("invalid escape in a string")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.errorf("invalid UTF-8 in a string")
			}
			buf = append(buf, p.data[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
	return "", p.errorf("unterminated string")
}

// key parses a property name. Names of FHIR elements come from a fixed
// table, so the common case costs no allocation.
func (p *parser) key() (string, error) {
	start := p.pos + 1
	for i := start; i < len(p.data); i++ {
		c := p.data[i]
		if c == '"' {
			if k, ok := knownKeys()[string(p.data[start:i])]; ok {
				p.pos = i + 1
				return k, nil
			}
			break
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	return p.string()
}

// knownKeys holds every JSON property name of the R4 definitions (with
// the "_" primitive-extension forms), so that parsing reuses one string
// per name.
var knownKeys = sync.OnceValue(func() map[string]string {
	d := load()
	m := make(map[string]string, 8192)
	add := func(k string) { m[k] = k }
	add("resourceType")
	for _, t := range d.tables {
		for k := range t.byKey {
			add(k)
			add("_" + k)
		}
	}
	return m
})

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("invalid \\u escape")
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.pos += 4
	return rune(v), nil
}

// Marshal encodes a value of the generic model as compact JSON. In every
// object, resourceType, id and meta come first (in that order) and the other
// keys follow in sorted order, so the output is deterministic.
func Marshal(v any) ([]byte, error) {
	return AppendJSON(make([]byte, 0, 1024), v)
}

// AppendJSON appends the compact JSON encoding of v to dst.
func AppendJSON(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendString(dst, x), nil
	case json.Number:
		if !validNumber(string(x)) {
			return dst, fmt.Errorf("invalid number literal %q", string(x))
		}
		return append(dst, x...), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, errors.New("cannot encode NaN or Inf")
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = AppendJSON(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		dst = append(dst, '{')
		first := true
		var err error
		emit := func(k string, e any) {
			if err != nil {
				return
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst, err = AppendJSON(dst, e)
		}
		for _, k := range leadingKeys {
			if e, ok := x[k]; ok {
				emit(k, e)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			if !isLeadingKey(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			emit(k, x[k])
		}
		if err != nil {
			return dst, err
		}
		return append(dst, '}'), nil
	default:
		return dst, fmt.Errorf("cannot encode %T in the FHIR JSON model", v)
	}
}

var leadingKeys = [...]string{"resourceType", "id", "meta"}

func isLeadingKey(k string) bool {
	return k == "resourceType" || k == "id" || k == "meta"
}

func validNumber(s string) bool {
	p := parser{data: []byte(s)}
	if len(s) == 0 {
		return false
	}
	if _, err := p.number(); err != nil {
		return false
	}
	return p.pos == len(s)
}

const hexDigits = "0123456789abcdef"

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			// Control characters, and < > & escaped so that stored JSON is
			// safe to embed in HTML.
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
