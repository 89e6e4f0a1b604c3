package fhir

import (
	"encoding/xml"
	"io"
	"strings"
)

const xhtmlNS = "http://www.w3.org/1999/xhtml"

// The txt-1 rule: "only the basic html formatting elements and attributes
// described in chapters 7-11 (except section 4 of chapter 9) and 15 of the
// HTML 4.0 standard, <a> elements (either name or href), images and
// internally contained style attributes". The lists are those of the
// reference (Java) validator.
var (
	htmlElements = setOf("p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
		"small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd", "sub", "sup",
		"ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td",
		"code", "samp", "img", "map", "area")
	htmlAttributes = setOf("title", "style", "class", "id", "lang", "dir", "accesskey", "tabindex",
		"span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan", "colspan")
	htmlElementAttributes = setOf("a.href", "a.name", "img.src", "img.border", "blockquote.cite", "q.cite",
		"a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape", "a.coords",
		"img.alt", "img.longdesc", "img.height", "img.width", "img.usemap", "img.ismap", "map.name", "area.shape",
		"area.coords", "area.href", "area.nohref", "area.alt", "table.summary", "table.width", "table.border",
		"table.frame", "table.rules", "table.cellspacing", "table.cellpadding", "pre.space", "td.nowrap")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

const xmlNS = "http://www.w3.org/XML/1998/namespace"

// narrative checks Narrative.div: well-formed XHTML whose root is a div in
// the XHTML namespace, only XML's predefined entities, only the elements
// and attributes txt-1 allows, no scripts, event handlers or javascript:
// URLs, and some content (txt-2). The current path names the div.
func (v *validator) narrative(s string) {
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	var open []string // RawToken does not match end tags to start tags
	depth := 0
	rootDone := false
	content := false
	report := func(code, msg string) {
		v.errorf(code, msg)
	}
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			report("invalid", "the narrative is not well-formed XHTML (only the XML entities &lt; &gt; &amp; &quot; &apos; and numeric character references are allowed)")
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if rootDone {
				report("invalid", "the narrative must be a single div element")
				return
			}
			name := t.Name.Local
			if depth == 0 {
				if name != "div" || t.Name.Space != "" || !hasXHTMLNamespace(t.Attr) {
					report("invalid", "the narrative must be a div element in the XHTML namespace")
					return
				}
			}
			if t.Name.Space != "" || !htmlElements[name] {
				report("security", "txt-1: the narrative contains an element that is not allowed"+knownName(name, knownHTMLElements))
				return
			}
			if name == "img" {
				content = true
			}
			for _, a := range t.Attr {
				if msg := checkHTMLAttr(name, a); msg != "" {
					report("security", "txt-1: "+msg)
					return
				}
			}
			open = append(open, t.Name.Space+":"+name)
			depth++
		case xml.EndElement:
			if depth == 0 || open[depth-1] != t.Name.Space+":"+t.Name.Local {
				report("invalid", "the narrative is not well-formed XHTML")
				return
			}
			open = open[:depth-1]
			depth--
			if depth == 0 {
				rootDone = true
			}
		case xml.CharData:
			if depth == 0 {
				if strings.TrimSpace(string(t)) != "" {
					report("invalid", "the narrative must be a single div element")
					return
				}
				continue
			}
			if !content && strings.TrimSpace(string(t)) != "" {
				content = true
			}
		case xml.ProcInst, xml.Directive:
			report("security", "txt-1: processing instructions and declarations are not allowed in the narrative")
			return
		}
	}
	if !rootDone || depth != 0 {
		report("invalid", "the narrative is not well-formed XHTML")
		return
	}
	if !content {
		// A warning, though txt-2 is an error: official examples have
		// empty narratives.
		v.report("warning", "invariant", "txt-2: the narrative must have some non-whitespace content")
	}
}

func hasXHTMLNamespace(attrs []xml.Attr) bool {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == "xmlns" {
			return a.Value == xhtmlNS
		}
	}
	return false
}

// checkHTMLAttr returns why an attribute is not allowed, or "".
func checkHTMLAttr(elem string, a xml.Attr) string {
	switch {
	case a.Name.Space == "" && a.Name.Local == "xmlns":
		if a.Value != xhtmlNS {
			return "only the XHTML namespace is allowed"
		}
		return ""
	case a.Name.Space == "xmlns":
		return "" // namespace declarations
	case a.Name.Space == "xml" || a.Name.Space == xmlNS:
		if a.Name.Local == "lang" || a.Name.Local == "space" {
			return ""
		}
		return "only the xml:lang and xml:space attributes are allowed"
	case a.Name.Space != "":
		return "attributes in other namespaces are not allowed"
	}
	name := a.Name.Local
	if !htmlAttributes[name] && !htmlElementAttributes[elem+"."+name] {
		if strings.HasPrefix(strings.ToLower(name), "on") {
			return "event handler attributes are not allowed"
		}
		return "attribute not allowed on " + elem + knownName(name, knownHTMLAttributes)
	}
	switch name {
	case "href", "src", "longdesc", "cite", "usemap":
		if scriptURL(a.Value) {
			return "script URLs are not allowed"
		}
	case "style":
		l := strings.ToLower(a.Value)
		if strings.Contains(l, "javascript:") || strings.Contains(l, "expression(") || strings.Contains(l, "url(") {
			return "style attributes must not load URLs or run expressions"
		}
	}
	return ""
}

// scriptURL reports URLs with a javascript:, vbscript: or data:text/html
// scheme, ignoring case, white space and control characters (which
// browsers ignore too).
func scriptURL(u string) bool {
	var b []byte
	for i := 0; i < len(u) && len(b) < 16; i++ {
		c := u[i]
		if c <= ' ' {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	s := string(b)
	return strings.HasPrefix(s, "javascript:") || strings.HasPrefix(s, "vbscript:") || strings.HasPrefix(s, "data:text/html")
}

// Names the narrative checks may quote: other element and attribute names
// could be resource content.
var (
	knownHTMLElements = setOf("script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
		"input", "button", "select", "textarea", "option", "link", "meta", "base", "svg", "math", "html", "head",
		"body", "title", "audio", "video", "source", "canvas", "template", "u", "s", "strike", "font", "center",
		"section", "article", "nav", "header", "footer", "main", "aside", "figure", "label", "noscript")
	knownHTMLAttributes = setOf("href", "src", "name", "alt", "type", "target", "action", "formaction", "srcdoc",
		"data", "value", "rel", "border", "height", "srcset", "background", "xmlns")
)

func knownName(name string, known map[string]bool) string {
	if known[name] {
		return ": " + name
	}
	return ""
}
