package search

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/store"
)

// Limits on a search request, so that no query can ask for unbounded work.
const (
	MaxParams       = 64   // parameters (counting repeats) in one search
	MaxValues       = 64   // comma-separated alternatives in one parameter
	MaxValueLen     = 1024 // bytes in one value
	MaxChainDepth   = 3    // subject.organization.partof.name
	MaxHasDepth     = 3    // nested _has
	MaxIncludes     = 16   // _include plus _revinclude parameters
	MaxSortKeys     = 4
	MaxConditions   = 256 // conditions after chains expand over their target types
	DefaultCount    = 20
	MaxCount        = 1000
	MaxOffset       = 100000
	MaxIncludeTotal = 2000 // resources added by _include/_revinclude to one page
)

// Options control parsing.
type Options struct {
	// Lenient ignores unknown and malformed parameters (reporting them as
	// warnings) instead of failing (Prefer: handling=lenient).
	Lenient bool
	// Now is the reference time for the ap prefix on dates.
	Now time.Time
	// Encoder encodes the query values; nil means Plain.
	Encoder Encoder
}

// Search is a parsed search request.
type Search struct {
	Query    store.Query
	Summary  string   // "", "true", "false", "text", "data" or "count"
	Elements []string // _elements
	// Params are the accepted parameters in canonical form, for the self link.
	Params url.Values
	// Warnings are the parameters ignored under lenient handling.
	Warnings []fhir.Issue
}

// parser carries the state of one Parse call.
type parser struct {
	reg    *Registry
	opt    Options
	issues []fhir.Issue // errors (strict) or warnings (lenient)
}

func (p *parser) problem(param, format string, args ...any) {
	p.issues = append(p.issues, fhir.Issue{
		Severity:    "error",
		Code:        "processing",
		Diagnostics: fmt.Sprintf("search parameter %q: %s", param, fmt.Sprintf(format, args...)),
	})
}

// Parse parses the search parameters for resource type typ.
func (r *Registry) Parse(typ string, params url.Values, opt Options) (*Search, error) {
	if opt.Encoder == nil {
		opt.Encoder = Plain
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	p := &parser{reg: r, opt: opt}
	s := &Search{Query: store.Query{Type: typ, Count: DefaultCount, Total: true}, Params: url.Values{}}
	n := 0
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, value := range params[name] {
			n++
			if n > MaxParams {
				return nil, fault.New(fault.Invalid, "too many search parameters (at most %d)", MaxParams)
			}
			before := len(p.issues)
			p.param(s, typ, name, value)
			if len(p.issues) == before {
				s.Params.Add(name, value)
			}
		}
	}
	if len(p.issues) > 0 {
		if !opt.Lenient {
			return nil, fault.WithIssues(fault.Invalid, p.issues)
		}
		for i := range p.issues {
			p.issues[i].Severity = "warning"
			p.issues[i].Diagnostics += " (ignored)"
		}
		s.Warnings = p.issues
	}
	if n := countConds(s.Query.Where); n > MaxConditions {
		return nil, fault.New(fault.Invalid, "the search expands to %d conditions; at most %d are allowed", n, MaxConditions)
	}
	if err := encodeWhere(opt.Encoder, s.Query.Where); err != nil {
		return nil, err
	}
	return s, nil
}

// countConds counts the conditions of a query, inside chains, _has and
// composites too.
func countConds(where []store.Clause) int {
	n := 0
	for _, c := range where {
		for _, cond := range c {
			n++
			switch x := cond.(type) {
			case store.ChainCond:
				n += countConds(x.Where)
			case store.HasCond:
				n += countConds(x.Where)
			case store.CompositeCond:
				n += len(x.Parts)
			case store.IDCond:
				n += len(x.IDs) / 16
			}
		}
	}
	return n
}

// param handles one name=value pair at the top level.
func (p *parser) param(s *Search, typ, name, value string) {
	if len(value) > MaxValueLen {
		p.problem(name, "value longer than %d bytes", MaxValueLen)
		return
	}
	if !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
		// As in resources (internal/fhir): no value holds these.
		p.problem(name, "value with invalid UTF-8 or a NUL character")
		return
	}
	q := &s.Query
	switch name {
	case "_format", "_pretty", "_page":
		return // handled by the HTTP layer
	case "_count":
		c, err := strconv.Atoi(value)
		if err != nil || c < 0 {
			p.problem(name, "must be a non-negative integer")
			return
		}
		q.Count = min(c, MaxCount)
		return
	case "_offset":
		o, err := strconv.Atoi(value)
		if err != nil || o < 0 || o > MaxOffset {
			p.problem(name, "must be an integer from 0 to %d", MaxOffset)
			return
		}
		q.Offset = o
		return
	case "_total":
		switch value {
		case "none":
			q.Total = false
		case "estimate", "accurate":
			q.Total = true
		default:
			p.problem(name, "must be none, estimate or accurate")
		}
		return
	case "_summary":
		switch value {
		case "true", "false", "text", "data":
			s.Summary = value
		case "count":
			s.Summary = value
			q.Total = true
		default:
			p.problem(name, "must be true, false, text, data or count")
		}
		return
	case "_elements":
		for _, e := range strings.Split(value, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !fhir.IsElement(typ, e) {
				p.problem(name, "%s has no element %q", typ, e)
				return
			}
			s.Elements = append(s.Elements, e)
		}
		return
	case "_sort":
		p.sort(s, typ, value)
		return
	case "_contained":
		if value != "false" {
			p.problem(name, "searching contained resources is not supported")
		}
		return
	case "_text", "_content", "_list", "_query", "_filter", "_containedType", "_type":
		p.problem(name, "not supported by this server")
		return
	}
	if base, mod, _ := strings.Cut(name, ":"); base == "_include" || base == "_revinclude" {
		p.include(s, typ, base, mod, value)
		return
	}
	clause, ok := p.clause(typ, name, value, 0, 0)
	if ok {
		q.Where = append(q.Where, clause)
	}
}

// clause parses a filtering parameter (possibly chained or _has) into an
// OR of conditions.
func (p *parser) clause(typ, name, value string, chainDepth, hasDepth int) (store.Clause, bool) {
	if strings.HasPrefix(name, "_has:") {
		return p.has(typ, name, value, chainDepth, hasDepth)
	}
	switch name {
	case "_id":
		var ids []string
		for _, v := range splitEscaped(value, ',') {
			v = unescape(v)
			if !fhir.ValidID(v) {
				p.problem(name, "not a valid resource id")
				return nil, false
			}
			ids = append(ids, v)
		}
		return store.Clause{store.IDCond{IDs: ids}}, true
	case "_lastUpdated":
		var c store.Clause
		for _, v := range splitEscaped(value, ',') {
			prefix, raw := splitPrefix(v)
			lo, hi, err := dateRange(raw)
			if err != nil {
				p.problem(name, "not a valid date")
				return nil, false
			}
			if prefix == store.Ap {
				lo, hi = approxDates(lo, hi, p.opt.Now)
			}
			c = append(c, store.LastUpdatedCond{Prefix: prefix, Lo: lo, Hi: hi})
		}
		return c, true
	}
	// Chaining: ref[:Type].rest
	if dot := strings.IndexByte(name, '.'); dot > 0 {
		return p.chain(typ, name[:dot], name[dot+1:], value, chainDepth, hasDepth)
	}
	code, mod, _ := strings.Cut(name, ":")
	param, ok := p.reg.Lookup(typ, code)
	if !ok {
		p.problem(name, "unknown search parameter for %s", typ)
		return nil, false
	}
	values := splitEscaped(value, ',')
	if len(values) > MaxValues {
		p.problem(name, "more than %d alternatives", MaxValues)
		return nil, false
	}
	if mod == "missing" {
		if value != "true" && value != "false" {
			p.problem(name, ":missing takes true or false")
			return nil, false
		}
		if param.Type == "composite" || param.Kind() == 0 {
			p.problem(name, ":missing is not supported on this parameter")
			return nil, false
		}
		return store.Clause{store.MissingCond{Param: param.Key, Kind: param.Kind(), Missing: value == "true"}}, true
	}
	var out store.Clause
	for _, v := range values {
		c, ok := p.value(param, name, mod, v)
		if !ok {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// value parses one alternative of a parameter into a condition.
func (p *parser) value(param *Param, name, mod, v string) (store.Cond, bool) {
	switch param.Type {
	case "string":
		switch mod {
		case "":
			return store.StringCond{Param: param.Key, Match: store.StringPrefix, Value: Normalize(unescape(v))}, true
		case "exact":
			return store.StringCond{Param: param.Key, Match: store.StringExact, Value: unescape(v)}, true
		case "contains":
			return store.StringCond{Param: param.Key, Match: store.StringContains, Value: Normalize(unescape(v))}, true
		}
	case "token":
		switch mod {
		case "":
			return p.token(param.Key, name, v)
		case "not":
			c, ok := p.token(param.Key, name, v)
			return store.NotCond{Cond: c}, ok
		case "text":
			return store.StringCond{Param: param.Key + TextSuffix, Match: store.StringPrefix, Value: Normalize(unescape(v))}, true
		case "of-type":
			parts := splitEscaped(v, '|')
			if len(parts) != 3 || parts[2] == "" {
				p.problem(name, ":of-type takes system|code|value")
				return nil, false
			}
			typ := unescape(parts[0]) + "|" + unescape(parts[1])
			return store.TokenCond{Param: param.Key + OfTypeSuffix, System: &typ, Code: unescape(parts[2])}, true
		case "above", "below", "in", "not-in":
			p.problem(name, "the :%s modifier needs terminology support, which this server does not have", mod)
			return nil, false
		}
	case "reference":
		switch {
		case mod == "identifier":
			return p.token(param.Key+IdentifierSuffix, name, v)
		case mod == "" || fhir.IsResourceType(mod):
			if mod != "" && len(param.Targets) > 0 && !slices.Contains(param.Targets, mod) && !slices.Contains(param.Targets, "Resource") {
				p.problem(name, "%s is not a target type of this parameter", mod)
				return nil, false
			}
			return p.reference(param, name, mod, unescape(v))
		}
	case "date":
		if mod == "" {
			prefix, raw := splitPrefix(v)
			lo, hi, err := dateRange(raw)
			if err != nil {
				p.problem(name, "not a valid date")
				return nil, false
			}
			if prefix == store.Ap {
				lo, hi = approxDates(lo, hi, p.opt.Now)
			}
			return store.DateCond{Param: param.Key, Prefix: prefix, Lo: lo, Hi: hi}, true
		}
	case "number":
		if mod == "" {
			nc, ok := p.number(param.Key, name, v)
			return nc, ok
		}
	case "quantity":
		if mod == "" {
			return p.quantity(param.Key, name, v)
		}
	case "uri":
		switch mod {
		case "":
			return store.URICond{Param: param.Key, Match: store.URIEqual, Value: unescape(v)}, true
		case "above":
			return store.URICond{Param: param.Key, Match: store.URIAbove, Value: unescape(v)}, true
		case "below":
			return store.URICond{Param: param.Key, Match: store.URIBelow, Value: unescape(v)}, true
		}
	case "composite":
		if mod == "" {
			return p.composite(param, name, v)
		}
	default:
		p.problem(name, "parameters of type %s are not supported", param.Type)
		return nil, false
	}
	p.problem(name, "modifier :%s is not valid for a %s parameter", mod, param.Type)
	return nil, false
}

func (p *parser) token(key, name, v string) (store.Cond, bool) {
	parts := splitEscaped(v, '|')
	switch len(parts) {
	case 1:
		code := unescape(parts[0])
		if code == "" {
			p.problem(name, "empty token")
			return nil, false
		}
		return store.TokenCond{Param: key, Code: code}, true
	case 2:
		system, code := unescape(parts[0]), unescape(parts[1])
		if system == "" && code == "" {
			p.problem(name, "empty token")
			return nil, false
		}
		return store.TokenCond{Param: key, System: &system, Code: code}, true
	}
	p.problem(name, "a token is [system]|[code]")
	return nil, false
}

func (p *parser) reference(param *Param, name, typeMod, v string) (store.Cond, bool) {
	if v == "" {
		p.problem(name, "empty reference")
		return nil, false
	}
	if strings.Contains(v, "://") || strings.HasPrefix(v, "urn:") {
		return store.RefCond{Param: param.Key, URL: v}, true
	}
	parts := strings.Split(v, "/")
	switch {
	case len(parts) == 1:
		if !fhir.ValidID(v) {
			p.problem(name, "not a valid reference")
			return nil, false
		}
		typ := typeMod
		if typ == "" && len(param.Targets) == 1 && param.Targets[0] != "Resource" {
			typ = param.Targets[0]
		}
		return store.RefCond{Param: param.Key, Type: typ, ID: v}, true
	case len(parts) == 2 || len(parts) == 4 && parts[2] == "_history":
		if !fhir.IsResourceType(parts[0]) || !fhir.ValidID(parts[1]) {
			p.problem(name, "not a valid reference")
			return nil, false
		}
		if typeMod != "" && typeMod != parts[0] {
			p.problem(name, "the reference type does not match the :%s modifier", typeMod)
			return nil, false
		}
		return store.RefCond{Param: param.Key, Type: parts[0], ID: parts[1]}, true
	}
	p.problem(name, "not a valid reference")
	return nil, false
}

func (p *parser) number(key, name, v string) (store.NumberCond, bool) {
	prefix, raw := splitPrefix(v)
	val, lo, hi, err := decimalRange(raw)
	if err != nil {
		p.problem(name, "not a valid number")
		return store.NumberCond{}, false
	}
	if prefix == store.Ap {
		lo, hi = approx(val, lo, hi)
	}
	return store.NumberCond{Param: key, Prefix: prefix, Value: val, Lo: lo, Hi: hi}, true
}

func (p *parser) quantity(key, name, v string) (store.Cond, bool) {
	parts := splitEscaped(v, '|')
	if len(parts) != 1 && len(parts) != 3 {
		p.problem(name, "a quantity is [prefix]number[|system|code]")
		return nil, false
	}
	nc, ok := p.number(key, name, parts[0])
	if !ok {
		return nil, false
	}
	qc := store.QuantityCond{NumberCond: nc}
	if len(parts) == 3 {
		qc.System, qc.Code = unescape(parts[1]), unescape(parts[2])
		if qc.System != "" && qc.Code == "" {
			p.problem(name, "a quantity with a system needs a code")
			return nil, false
		}
	}
	return qc, true
}

func (p *parser) composite(param *Param, name, v string) (store.Cond, bool) {
	parts := splitEscaped(v, '$')
	if len(parts) != len(param.Components) {
		p.problem(name, "a value needs %d components separated by $", len(param.Components))
		return nil, false
	}
	var conds []store.Cond
	for i, c := range param.Components {
		sub := &Param{Code: param.Code, Key: c.Key, Type: c.Type}
		cond, ok := p.value(sub, name, "", parts[i])
		if !ok {
			return nil, false
		}
		conds = append(conds, cond)
	}
	return store.CompositeCond{Parts: conds}, true
}

// chain parses ref[:Type].rest=value.
func (p *parser) chain(typ, head, rest, value string, chainDepth, hasDepth int) (store.Clause, bool) {
	if chainDepth >= MaxChainDepth {
		p.problem(head+"."+rest, "chains are limited to %d levels", MaxChainDepth)
		return nil, false
	}
	code, typeMod, _ := strings.Cut(head, ":")
	param, ok := p.reg.Lookup(typ, code)
	if !ok {
		p.problem(head, "unknown search parameter for %s", typ)
		return nil, false
	}
	if param.Type != "reference" {
		p.problem(head, "only reference parameters can be chained")
		return nil, false
	}
	targets := param.Targets
	if typeMod != "" {
		if !fhir.IsResourceType(typeMod) || (!slices.Contains(targets, typeMod) && !slices.Contains(targets, "Resource")) {
			p.problem(head, "%s is not a target type of this parameter", typeMod)
			return nil, false
		}
		targets = []string{typeMod}
	} else if slices.Contains(targets, "Resource") || len(targets) == 0 {
		p.problem(head, "chaining through a reference to any resource type needs a type modifier")
		return nil, false
	}
	next, _, _ := strings.Cut(rest, ".")
	next, _, _ = strings.Cut(next, ":")
	var out store.Clause
	for _, t := range targets {
		if !strings.HasPrefix(rest, "_has:") && next != "_id" && next != "_lastUpdated" {
			if _, ok := p.reg.Lookup(t, next); !ok {
				continue
			}
		}
		before := len(p.issues)
		inner, ok := p.clause(t, rest, value, chainDepth+1, hasDepth)
		if !ok {
			if len(p.issues) == before {
				p.problem(head+"."+rest, "invalid chain")
			}
			return nil, false
		}
		out = append(out, store.ChainCond{Param: param.Key, Types: []string{t}, Where: []store.Clause{inner}})
	}
	if len(out) == 0 {
		p.problem(head+"."+rest, "no target type of %s has the parameter %q", code, next)
		return nil, false
	}
	return out, true
}

// has parses _has:Type:ref:rest=value.
func (p *parser) has(typ, name, value string, chainDepth, hasDepth int) (store.Clause, bool) {
	if hasDepth >= MaxHasDepth {
		p.problem(name, "_has is limited to %d levels", MaxHasDepth)
		return nil, false
	}
	parts := strings.SplitN(name, ":", 4)
	if len(parts) != 4 || parts[3] == "" {
		p.problem(name, "the form is _has:Type:reference:parameter")
		return nil, false
	}
	src, refCode, rest := parts[1], parts[2], parts[3]
	if !fhir.IsResourceType(src) {
		p.problem(name, "unknown resource type")
		return nil, false
	}
	ref, ok := p.reg.Lookup(src, refCode)
	if !ok || ref.Type != "reference" {
		p.problem(name, "%s has no reference parameter %q", src, refCode)
		return nil, false
	}
	if len(ref.Targets) > 0 && !slices.Contains(ref.Targets, typ) && !slices.Contains(ref.Targets, "Resource") {
		p.problem(name, "%s.%s does not refer to %s", src, refCode, typ)
		return nil, false
	}
	inner, ok := p.clause(src, rest, value, chainDepth, hasDepth+1)
	if !ok {
		return nil, false
	}
	return store.Clause{store.HasCond{Type: src, Param: ref.Key, Where: []store.Clause{inner}}}, true
}

func (p *parser) sort(s *Search, typ, value string) {
	keys := strings.Split(value, ",")
	if len(keys) > MaxSortKeys {
		p.problem("_sort", "at most %d sort keys", MaxSortKeys)
		return
	}
	var out []store.Sort
	for _, k := range keys {
		desc := strings.HasPrefix(k, "-")
		k = strings.TrimPrefix(k, "-")
		switch k {
		case "_id":
			out = append(out, store.Sort{Param: store.SortID, Desc: desc})
			continue
		case "_lastUpdated":
			out = append(out, store.Sort{Param: store.SortLastUpdated, Desc: desc})
			continue
		}
		param, ok := p.reg.Lookup(typ, k)
		if !ok {
			p.problem("_sort", "unknown search parameter %q for %s", k, typ)
			return
		}
		if param.Kind() == 0 {
			p.problem("_sort", "cannot sort by the %s parameter %q", param.Type, k)
			return
		}
		out = append(out, store.Sort{Param: param.Key, Kind: param.Kind(), Desc: desc})
	}
	s.Query.Sort = append(s.Query.Sort, out...)
}

func (p *parser) include(s *Search, typ, which, mod, value string) {
	if len(s.Query.Include)+len(s.Query.RevInclude) >= MaxIncludes {
		p.problem(which, "at most %d _include and _revinclude parameters", MaxIncludes)
		return
	}
	iterate := false
	switch mod {
	case "":
	case "iterate", "recurse":
		iterate = true
	default:
		p.problem(which, "unknown modifier :%s", mod)
		return
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 {
		p.problem(which, "the form is Type:parameter[:targetType]")
		return
	}
	src, code := parts[0], parts[1]
	target := ""
	if len(parts) == 3 {
		target = parts[2]
		if !fhir.IsResourceType(target) {
			p.problem(which, "unknown target type")
			return
		}
	}
	if !fhir.IsResourceType(src) {
		p.problem(which, "unknown resource type")
		return
	}
	var params []*Param
	if code == "*" {
		for _, prm := range p.reg.Params(src) {
			if prm.Type == "reference" {
				params = append(params, prm)
			}
		}
	} else {
		prm, ok := p.reg.Lookup(src, code)
		if !ok || prm.Type != "reference" {
			p.problem(which, "%s has no reference parameter %q", src, code)
			return
		}
		params = append(params, prm)
	}
	for _, prm := range params {
		inc := store.Include{SourceType: src, Param: prm.Key, TargetType: target, Iterate: iterate}
		if which == "_include" {
			// Without :iterate an include whose source is not the type
			// searched applies to nothing; that is not an error.
			s.Query.Include = appendInclude(s.Query.Include, inc)
		} else {
			if target == "" && !iterate {
				inc.TargetType = typ
			}
			s.Query.RevInclude = appendInclude(s.Query.RevInclude, inc)
		}
		if len(s.Query.Include)+len(s.Query.RevInclude) > MaxIncludes {
			p.problem(which, "at most %d includes (a wildcard counts each parameter)", MaxIncludes)
			return
		}
	}
	s.Query.IncludeLimit = MaxIncludeTotal
}

// appendInclude adds an include unless the list has it already.
func appendInclude(list []store.Include, inc store.Include) []store.Include {
	for _, x := range list {
		if x == inc {
			return list
		}
	}
	return append(list, inc)
}

// splitEscaped splits s at every sep not preceded by a backslash escape.
// The parts keep their escapes; unescape removes them.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape removes the backslash escapes of \, \$ \| and \\.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeWhere passes every leaf condition through the encoder.
func encodeWhere(enc Encoder, where []store.Clause) error {
	for _, clause := range where {
		for i, c := range clause {
			nc, err := encodeCond(enc, c)
			if err != nil {
				return err
			}
			clause[i] = nc
		}
	}
	return nil
}

func encodeCond(enc Encoder, c store.Cond) (store.Cond, error) {
	switch c := c.(type) {
	case store.NotCond:
		inner, err := encodeCond(enc, c.Cond)
		return store.NotCond{Cond: inner}, err
	case store.ChainCond:
		return c, encodeWhere(enc, c.Where)
	case store.HasCond:
		return c, encodeWhere(enc, c.Where)
	case store.CompositeCond:
		for i, part := range c.Parts {
			np, err := encodeCond(enc, part)
			if err != nil {
				return nil, err
			}
			c.Parts[i] = np
		}
		return c, nil
	case store.IDCond, store.LastUpdatedCond, store.MissingCond:
		return c, nil
	}
	return enc.EncodeCond(c)
}
