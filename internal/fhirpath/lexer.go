package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokenKind classifies a lexical token.
type tokenKind uint8

const (
	tEOF        tokenKind = iota
	tIdent                // identifier or keyword (and, div, true, ...)
	tDelimIdent           // `backtick identifier`, text unescaped
	tString               // 'string', text unescaped
	tNumber               // 123 or 1.5, text as written
	tDate                 // @2014-01-02, text without the @
	tDateTime             // @2014-01-02T10:00, text without the @
	tTime                 // @T10:00, text without the @T
	tSymbol               // operator or punctuation, text is the symbol
	tSpecial              // $this, $index, $total; text without the $
	tConstant             // %name or %`name` or %'name', text without the %
)

// token is one lexical token; pos is its byte offset in the source.
type token struct {
	kind tokenKind
	text string
	pos  int
}

// lexer splits FHIRPath source text into tokens.
type lexer struct {
	src string
	pos int
}

// syntaxErrorf reports a syntax error at byte offset pos. The message names
// the offset and never quotes more than the offending token.
func syntaxErrorf(pos int, format string, args ...any) error {
	return &compileError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

// compileError is a syntax or static error found by Compile.
type compileError struct {
	pos int
	msg string
}

func (e *compileError) Error() string {
	return fmt.Sprintf("fhirpath: invalid expression at offset %d: %s", e.pos, e.msg)
}

// tokenize returns every token of src followed by a tEOF token.
func tokenize(src string) ([]token, error) {
	lx := lexer{src: src}
	toks := make([]token, 0, len(src)/3+2)
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}

func (lx *lexer) skipSpaceAndComments() error {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			lx.pos++
		case c == '/' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '/':
			end := strings.IndexByte(lx.src[lx.pos:], '\n')
			if end < 0 {
				lx.pos = len(lx.src)
			} else {
				lx.pos += end + 1
			}
		case c == '/' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '*':
			end := strings.Index(lx.src[lx.pos+2:], "*/")
			if end < 0 {
				return syntaxErrorf(lx.pos, "unterminated comment")
			}
			lx.pos += 2 + end + 2
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (lx *lexer) next() (token, error) {
	if err := lx.skipSpaceAndComments(); err != nil {
		return token{}, err
	}
	start := lx.pos
	if lx.pos >= len(lx.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := lx.src[lx.pos]
	switch {
	case isIdentStart(c):
		lx.pos++
		for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
			lx.pos++
		}
		return token{kind: tIdent, text: lx.src[start:lx.pos], pos: start}, nil
	case isDigit(c):
		return lx.number()
	case c == '`':
		s, err := lx.quoted('`')
		if err != nil {
			return token{}, err
		}
		return token{kind: tDelimIdent, text: s, pos: start}, nil
	case c == '\'':
		s, err := lx.quoted('\'')
		if err != nil {
			return token{}, err
		}
		return token{kind: tString, text: s, pos: start}, nil
	case c == '@':
		return lx.dateTime()
	case c == '$':
		lx.pos++
		s := lx.pos
		for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
			lx.pos++
		}
		name := lx.src[s:lx.pos]
		switch name {
		case "this", "index", "total":
			return token{kind: tSpecial, text: name, pos: start}, nil
		}
		return token{}, syntaxErrorf(start, "unknown special variable $%s", truncate(name))
	case c == '%':
		lx.pos++
		if lx.pos >= len(lx.src) {
			return token{}, syntaxErrorf(start, "missing constant name after %%")
		}
		switch d := lx.src[lx.pos]; {
		case d == '`' || d == '\'':
			s, err := lx.quoted(d)
			if err != nil {
				return token{}, err
			}
			return token{kind: tConstant, text: s, pos: start}, nil
		case isIdentStart(d):
			s := lx.pos
			for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
				lx.pos++
			}
			return token{kind: tConstant, text: lx.src[s:lx.pos], pos: start}, nil
		}
		return token{}, syntaxErrorf(start, "invalid constant name after %%")
	}
	// Symbols, longest first.
	if lx.pos+1 < len(lx.src) {
		switch two := lx.src[lx.pos : lx.pos+2]; two {
		case "<=", ">=", "!=", "!~":
			lx.pos += 2
			return token{kind: tSymbol, text: two, pos: start}, nil
		}
	}
	switch c {
	case '.', '[', ']', '(', ')', '{', '}', ',', '+', '-', '*', '/', '&', '|', '=', '~', '<', '>':
		lx.pos++
		return token{kind: tSymbol, text: lx.src[start:lx.pos], pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(lx.src[lx.pos:])
	return token{}, syntaxErrorf(start, "unexpected character %q", r)
}

// number lexes NUMBER: [0-9]+ ('.' [0-9]+)?. A '.' not followed by a digit
// ends the number (so 1.convertsToInteger() is 1 . convertsToInteger()).
func (lx *lexer) number() (token, error) {
	start := lx.pos
	for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
		lx.pos++
	}
	if lx.pos+1 < len(lx.src) && lx.src[lx.pos] == '.' && isDigit(lx.src[lx.pos+1]) {
		lx.pos++
		for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
			lx.pos++
		}
	}
	return token{kind: tNumber, text: lx.src[start:lx.pos], pos: start}, nil
}

// quoted lexes a string or delimited identifier and returns it unescaped.
func (lx *lexer) quoted(q byte) (string, error) {
	start := lx.pos
	lx.pos++ // opening quote
	var b strings.Builder
	plain := lx.pos
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch c {
		case q:
			s := lx.src[plain:lx.pos]
			lx.pos++
			if b.Len() == 0 {
				return s, nil
			}
			b.WriteString(s)
			return b.String(), nil
		case '\\':
			b.WriteString(lx.src[plain:lx.pos])
			if lx.pos+1 >= len(lx.src) {
				return "", syntaxErrorf(start, "unterminated escape")
			}
			e := lx.src[lx.pos+1]
			lx.pos += 2
			switch e {
			case '\'', '"', '`', '\\', '/':
				b.WriteByte(e)
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if lx.pos+4 > len(lx.src) {
					return "", syntaxErrorf(lx.pos-2, "invalid \\u escape")
				}
				v, err := strconv.ParseUint(lx.src[lx.pos:lx.pos+4], 16, 16)
				if err != nil {
					return "", syntaxErrorf(lx.pos-2, "invalid \\u escape")
				}
				lx.pos += 4
				r := rune(v)
				if r >= 0xD800 && r < 0xDC00 && lx.pos+6 <= len(lx.src) && lx.src[lx.pos] == '\\' && lx.src[lx.pos+1] == 'u' {
					if lo, err := strconv.ParseUint(lx.src[lx.pos+2:lx.pos+6], 16, 16); err == nil && lo >= 0xDC00 && lo < 0xE000 {
						r = (r-0xD800)<<10 + (rune(lo) - 0xDC00) + 0x10000
						lx.pos += 6
					}
				}
				if !utf8.ValidRune(r) {
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", syntaxErrorf(lx.pos-2, "invalid escape \\%c", e)
			}
			plain = lx.pos
		default:
			lx.pos++
		}
	}
	return "", syntaxErrorf(start, "unterminated %c", q)
}

// dateTime lexes @DATE, @DATETIME and @TIME literals.
func (lx *lexer) dateTime() (token, error) {
	start := lx.pos
	lx.pos++ // @
	if lx.pos < len(lx.src) && lx.src[lx.pos] == 'T' {
		lx.pos++
		s := lx.pos
		if !lx.timePart() {
			return token{}, syntaxErrorf(start, "invalid time literal")
		}
		return token{kind: tTime, text: lx.src[s:lx.pos], pos: start}, nil
	}
	s := lx.pos
	if !lx.digits(4) {
		return token{}, syntaxErrorf(start, "invalid date literal")
	}
	if lx.peekIs('-') && lx.digitsAt(lx.pos+1, 2) {
		lx.pos += 3
		if lx.peekIs('-') && lx.digitsAt(lx.pos+1, 2) {
			lx.pos += 3
		}
	}
	if !lx.peekIs('T') {
		return token{kind: tDate, text: lx.src[s:lx.pos], pos: start}, nil
	}
	lx.pos++ // T
	if lx.digitsAt(lx.pos, 2) {
		lx.timePart()
		// Time-zone offset.
		switch {
		case lx.peekIs('Z'):
			lx.pos++
		case (lx.peekIs('+') || lx.peekIs('-')) && lx.digitsAt(lx.pos+1, 2) && lx.pos+3 < len(lx.src) && lx.src[lx.pos+3] == ':' && lx.digitsAt(lx.pos+4, 2):
			lx.pos += 6
		}
	}
	return token{kind: tDateTime, text: lx.src[s:lx.pos], pos: start}, nil
}

// timePart lexes hh(:mm(:ss(.fff)?)?)?.
func (lx *lexer) timePart() bool {
	if !lx.digits(2) {
		return false
	}
	if lx.peekIs(':') && lx.digitsAt(lx.pos+1, 2) {
		lx.pos += 3
		if lx.peekIs(':') && lx.digitsAt(lx.pos+1, 2) {
			lx.pos += 3
			if lx.peekIs('.') && lx.digitsAt(lx.pos+1, 1) {
				lx.pos++
				for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
					lx.pos++
				}
			}
		}
	}
	return true
}

func (lx *lexer) peekIs(c byte) bool { return lx.pos < len(lx.src) && lx.src[lx.pos] == c }

func (lx *lexer) digitsAt(p, n int) bool {
	if p+n > len(lx.src) {
		return false
	}
	for i := p; i < p+n; i++ {
		if !isDigit(lx.src[i]) {
			return false
		}
	}
	return true
}

func (lx *lexer) digits(n int) bool {
	if !lx.digitsAt(lx.pos, n) {
		return false
	}
	lx.pos += n
	return true
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
