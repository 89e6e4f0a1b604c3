package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// String functions take a single string input (any FHIR string-like
// primitive, or System.String) and return empty for an empty input or
// argument. Positions and lengths count Unicode code points.

// stringInput reads the single string input; ok is false when empty.
func stringInput(in []Item) (string, bool, error) {
	if len(in) == 0 {
		return "", false, nil
	}
	if len(in) > 1 {
		return "", false, fmt.Errorf("expected a single string input, got %d items", len(in))
	}
	switch v := in[0].Value.(type) {
	case string:
		return v, true, nil
	case nil:
		return "", false, nil
	}
	return "", false, fmt.Errorf("expected a string input, got %s", typeName(in[0]))
}

// stringArg reads string argument i; ok is false when empty.
func stringArg(c *evalCtx, f *funcNode, i int) (string, bool, error) {
	v, err := f.arg(c, i)
	if err != nil {
		return "", false, err
	}
	return singletonString(v, "argument")
}

// stringAndArg reads the input and string argument 0.
func stringAndArg(c *evalCtx, f *funcNode, in []Item) (s, a string, ok bool, err error) {
	s, ok, err = stringInput(in)
	if err != nil || !ok {
		return "", "", false, err
	}
	a, ok, err = stringArg(c, f, 0)
	return s, a, ok, err
}

func strItem(s string) []Item { return []Item{{Value: s, Type: typeString}} }

func intItem(i int) []Item { return []Item{{Value: int64(i), Type: typeInteger}} }

func fnIndexOf(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, sub, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	i := strings.Index(s, sub)
	if i < 0 {
		return intItem(-1), nil
	}
	return intItem(utf8.RuneCountInString(s[:i])), nil
}

func fnSubstring(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	start, ok, err := intArg(c, f, 0)
	if err != nil || !ok {
		return nil, err
	}
	runes := []rune(s)
	if start < 0 || start >= int64(len(runes)) {
		return nil, nil
	}
	end := int64(len(runes))
	if len(f.args) == 2 {
		n, ok, err := intArg(c, f, 1)
		if err != nil {
			return nil, err
		}
		if ok {
			n = max(n, 0)
			if n < end-start {
				end = start + n
			}
		}
	}
	return strItem(string(runes[start:end])), nil
}

func fnStartsWith(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, a, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	return boolItems(strings.HasPrefix(s, a)), nil
}

func fnEndsWith(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, a, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	return boolItems(strings.HasSuffix(s, a)), nil
}

func fnContainsString(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, a, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	return boolItems(strings.Contains(s, a)), nil
}

func fnUpper(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	return strItem(strings.ToUpper(s)), nil
}

func fnLower(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	return strItem(strings.ToLower(s)), nil
}

func fnReplace(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, pattern, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	repl, ok, err := stringArg(c, f, 1)
	if err != nil || !ok {
		return nil, err
	}
	n := strings.Count(s, pattern)
	if int64(len(s))+int64(n)*int64(len(repl)) > maxStringLength {
		return nil, errStringLimit
	}
	return strItem(strings.ReplaceAll(s, pattern, repl)), nil
}

// maxRegexLength bounds regular expressions taken from data.
const maxRegexLength = 4096

// compileRegex compiles a FHIRPath regular expression. Matching is in
// single-line mode ('.' matches new lines); full anchors the whole string.
func compileRegex(pattern string, full bool) (*regexp.Regexp, error) {
	if len(pattern) > maxRegexLength {
		return nil, fmt.Errorf("regular expression longer than %d bytes", maxRegexLength)
	}
	p := "(?s)" + pattern
	if full {
		p = "(?s)^(?:" + pattern + ")$"
	}
	re, err := regexp.Compile(p)
	if err != nil {
		// The pattern may come from data: report only the error kind.
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid regular expression: %s", se.Code)
		}
		return nil, errors.New("invalid regular expression")
	}
	return re, nil
}

// regexArg returns the compiled pattern of argument 0 (precompiled when it
// is a literal).
func regexArg(c *evalCtx, f *funcNode, full bool) (*regexp.Regexp, bool, error) {
	if f.re != nil {
		return f.re, true, nil
	}
	p, ok, err := stringArg(c, f, 0)
	if err != nil || !ok {
		return nil, false, err
	}
	re, err := compileRegex(p, full)
	return re, err == nil, err
}

func fnMatches(full bool) funcImpl {
	return func(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
		s, ok, err := stringInput(in)
		if err != nil || !ok {
			return nil, err
		}
		re, ok, err := regexArg(c, f, full)
		if err != nil || !ok {
			return nil, err
		}
		if err := c.spend(8 + len(s)/2); err != nil { // regular expressions cost per byte
			return nil, err
		}
		return boolItems(re.MatchString(s)), nil
	}
}

func fnReplaceMatches(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	p, ok, err := stringArg(c, f, 0)
	if err != nil || !ok {
		return nil, err
	}
	repl, ok, err := stringArg(c, f, 1)
	if err != nil || !ok {
		return nil, err
	}
	if p == "" {
		return strItem(s), nil // an empty pattern changes nothing
	}
	re := f.re
	if re == nil {
		if re, err = compileRegex(p, false); err != nil {
			return nil, err
		}
	}
	if err := c.spend(8 + len(s)/2); err != nil { // regular expressions cost per byte
		return nil, err
	}
	r := re.ReplaceAllString(s, repl)
	if len(r) > maxStringLength {
		return nil, errStringLimit
	}
	return strItem(r), nil
}

func fnLength(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	return intItem(utf8.RuneCountInString(s)), nil
}

func fnToChars(c *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	out := make([]Item, 0, len(s))
	for _, r := range s {
		out = append(out, Item{Value: string(r), Type: typeString})
	}
	return out, c.spend(len(out))
}

func fnSplit(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, sep, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	parts := strings.Split(s, sep)
	if err := c.spend(len(parts)); err != nil {
		return nil, err
	}
	out := make([]Item, len(parts))
	for i, p := range parts {
		out[i] = Item{Value: p, Type: typeString}
	}
	return out, nil
}

func fnJoin(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	sep := ""
	if len(f.args) == 1 {
		s, ok, err := stringArg(c, f, 0)
		if err != nil {
			return nil, err
		}
		if ok {
			sep = s
		}
	}
	var b strings.Builder
	for i, it := range in {
		s, ok := it.Value.(string)
		if !ok {
			return nil, fmt.Errorf("expected strings, got %s", typeName(it))
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
		if b.Len() > maxStringLength {
			return nil, errStringLimit
		}
	}
	return strItem(b.String()), nil
}

func fnTrim(_ *evalCtx, _ *funcNode, in []Item) ([]Item, error) {
	s, ok, err := stringInput(in)
	if err != nil || !ok {
		return nil, err
	}
	return strItem(strings.TrimSpace(s)), nil
}

func fnEncode(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, format, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	if len(s)*2 > maxStringLength {
		return nil, errStringLimit
	}
	switch format {
	case "hex":
		return strItem(hex.EncodeToString([]byte(s))), nil
	case "base64":
		return strItem(base64.StdEncoding.EncodeToString([]byte(s))), nil
	case "urlbase64":
		return strItem(base64.URLEncoding.EncodeToString([]byte(s))), nil
	}
	return nil, errUnknownFormat
}

// errUnknownFormat reports an unsupported encode/decode/escape format; the
// format may come from data, so it is not quoted.
var errUnknownFormat = &evalError{msg: "unknown format"}

func fnDecode(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, format, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	var b []byte
	switch format {
	case "hex":
		b, err = hex.DecodeString(s)
	case "base64":
		b, err = base64.StdEncoding.DecodeString(s)
	case "urlbase64":
		b, err = base64.URLEncoding.DecodeString(s)
	default:
		return nil, errUnknownFormat
	}
	if err != nil || !utf8.Valid(b) {
		return nil, nil // not decodable to a string: empty
	}
	return strItem(string(b)), nil
}

func fnEscape(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, format, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	if len(s)*6 > maxStringLength {
		return nil, errStringLimit
	}
	switch format {
	case "html":
		return strItem(htmlEscaper.Replace(s)), nil
	case "json":
		b, _ := json.Marshal(s)
		r := string(b[1 : len(b)-1])
		// encoding/json escapes <, > and & for HTML safety; FHIRPath does not.
		r = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(r)
		return strItem(r), nil
	}
	return nil, errUnknownFormat
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func fnUnescape(c *evalCtx, f *funcNode, in []Item) ([]Item, error) {
	s, format, ok, err := stringAndArg(c, f, in)
	if err != nil || !ok {
		return nil, err
	}
	switch format {
	case "html":
		return strItem(html.UnescapeString(s)), nil
	case "json":
		r, ok := unescapeJSON(s)
		if !ok {
			return nil, nil
		}
		return strItem(r), nil
	}
	return nil, errUnknownFormat
}

// unescapeJSON resolves the backslash escapes of a JSON string body; other
// characters (including unescaped quotes) are kept.
func unescapeJSON(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+4 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", false
			}
			b.WriteRune(rune(v))
			i += 4
		default:
			return "", false
		}
	}
	return b.String(), true
}
