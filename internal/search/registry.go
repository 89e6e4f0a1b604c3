// Package search implements FHIR R4 search: the registry of search
// parameters built from the official SearchParameter definitions, the
// extraction of index rows from resources (by evaluating each parameter's
// FHIRPath expression), and the parsing of search URLs into store queries.
//
// Invariants:
//   - Every index row and every query value passes through the Encoder, so
//     the store only ever sees encoded values.
//   - Parsing never trusts input: unknown parameters, modifiers and
//     malformed values are reported (error, or warning when lenient), never
//     silently reinterpreted.
//   - Error messages name parameters, never echo their values (a search
//     value may be PHI).
package search

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/fhirpath"
	"github.com/hestiahealth/hestia/internal/store"
)

// Param is a search parameter as it applies to one resource type.
type Param struct {
	Code       string
	Key        string // the canonical URL: the key index rows are stored under
	Type       string // number, date, string, token, reference, quantity, uri, composite, special
	Expression string // the part of the official expression for this resource type
	Targets    []string
	Components []Component
	expr       *fhirpath.Expr
	path       *pathExpr // the same expression as a plain path walk, when it is one
}

// Component is one part of a composite parameter.
type Component struct {
	Key  string // Param.Key + "#" + index
	Type string // the type of the component's own definition
	expr *fhirpath.Expr
	// paths walk the component from a composite value of each item type.
	paths map[string]*pathExpr
}

// Kind is the index table the parameter's values live in.
func (p *Param) Kind() store.Kind { return kindOf(p.Type) }

func kindOf(typ string) store.Kind {
	switch typ {
	case "string":
		return store.KindString
	case "token":
		return store.KindToken
	case "reference":
		return store.KindReference
	case "date":
		return store.KindDate
	case "number":
		return store.KindNumber
	case "quantity":
		return store.KindQuantity
	case "uri":
		return store.KindURI
	}
	return 0
}

// Registry holds the parameters of every resource type.
type Registry struct {
	byType      map[string]map[string]*Param
	model       fhirpath.Model
	compartment map[string][]string // type -> parameter keys linking it to a Patient
}

var (
	defaultOnce sync.Once
	defaultReg  *Registry
	defaultErr  error
)

// Default returns the registry of the official R4 search parameters. It is
// built once; building compiles about 1,400 FHIRPath expressions.
func Default() (*Registry, error) {
	defaultOnce.Do(func() { defaultReg, defaultErr = NewRegistry(fhir.SearchParams()) })
	return defaultReg, defaultErr
}

// NewRegistry builds a registry from SearchParameter definitions.
func NewRegistry(defs []fhir.SearchParam) (*Registry, error) {
	r := &Registry{byType: make(map[string]map[string]*Param), model: fhir.Model()}
	byURL := make(map[string]fhir.SearchParam, len(defs))
	for _, d := range defs {
		byURL[d.URL] = d
	}
	types := fhir.ResourceTypes()
	for _, d := range defs {
		var bases []string
		for _, b := range d.Base {
			if b == "Resource" || b == "DomainResource" {
				bases = append(bases, types...)
			} else {
				bases = append(bases, b)
			}
		}
		for _, base := range bases {
			if !fhir.IsResourceType(base) {
				continue
			}
			p := &Param{Code: d.Code, Key: d.URL, Type: d.Type, Targets: d.Target}
			if d.Expression != "" {
				p.Expression = exprFor(d.Expression, base, d.Base)
				if p.Expression == "" {
					continue // the expression does not apply to this type
				}
				e, err := fhirpath.Compile(p.Expression)
				if err != nil {
					return nil, fmt.Errorf("search: parameter %s on %s: %w", d.URL, base, err)
				}
				p.expr = e
				if pe, ok := compilePath(p.Expression, base, r.model, false); ok {
					p.path = pe
				}
			}
			for i, c := range d.Component {
				cd, ok := byURL[c.Definition]
				if !ok {
					return nil, fmt.Errorf("search: composite %s: unknown component %s", d.URL, c.Definition)
				}
				e, err := fhirpath.Compile(fixExpression(c.Expression))
				if err != nil {
					return nil, fmt.Errorf("search: composite %s component %d: %w", d.URL, i, err)
				}
				comp := Component{Key: fmt.Sprintf("%s#%d", d.URL, i), Type: cd.Type, expr: e}
				if p.path != nil {
					comp.paths = make(map[string]*pathExpr)
					for _, t := range p.path.itemTypes() {
						if pe, ok := compilePath(c.Expression, t, r.model, true); ok {
							comp.paths[t] = pe
						}
					}
				}
				p.Components = append(p.Components, comp)
			}
			m := r.byType[base]
			if m == nil {
				m = make(map[string]*Param)
				r.byType[base] = m
			}
			if _, dup := m[d.Code]; dup {
				continue
			}
			m[d.Code] = p
		}
	}
	r.compartment = make(map[string][]string)
	for _, typ := range types {
		for _, code := range fhir.CompartmentParams("Patient", typ) {
			if p, ok := r.Lookup(typ, code); ok && p.Type == "reference" {
				r.compartment[typ] = append(r.compartment[typ], p.Key)
			}
		}
	}
	return r, nil
}

// CompartmentKeys lists the keys of the parameters that put a resource of
// type typ in a patient's compartment (R4 Patient CompartmentDefinition),
// in the definition's order.
func (r *Registry) CompartmentKeys(typ string) []string {
	return r.compartment[typ]
}

// Lookup returns the parameter code of resource type typ.
func (r *Registry) Lookup(typ, code string) (*Param, bool) {
	p, ok := r.byType[typ][code]
	return p, ok
}

// Params lists the parameters of a resource type, sorted by code.
func (r *Registry) Params(typ string) []*Param {
	m := r.byType[typ]
	out := make([]*Param, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Param) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// fixExpression repairs a defect of the official R4 definitions: the
// value component of Observation code-value-date is
// "value.as(DateTime) | value.as(Period)", and by FHIRPath's rules a FHIR
// dateTime is not a System.DateTime, so the official expression could
// never match. The intent is the FHIR dateTime.
func fixExpression(expr string) string {
	return strings.ReplaceAll(expr, "value.as(DateTime)", "value.as(dateTime)")
}

// exprFor keeps the branches of a (possibly multi-base) expression that
// apply to resource type base: those starting with base, or with Resource
// or DomainResource for a parameter defined on all types.
func exprFor(expr, base string, bases []string) string {
	if len(bases) == 1 && (bases[0] == "Resource" || bases[0] == "DomainResource") {
		// Resource.meta.tag and the like: evaluate on any resource type.
		for _, prefix := range []string{"Resource.", "DomainResource."} {
			expr = strings.ReplaceAll(expr, prefix, base+".")
		}
		return expr
	}
	branches := splitUnion(expr)
	var keep []string
	for _, b := range branches {
		if leadingType(b) == base {
			keep = append(keep, strings.TrimSpace(b))
		}
	}
	if len(keep) == 0 && len(bases) == 1 {
		return expr
	}
	return strings.Join(keep, " | ")
}

// splitUnion splits an expression at its top-level "|" operators.
func splitUnion(expr string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == '|' && depth == 0:
			out = append(out, expr[start:i])
			start = i + 1
		}
	}
	return append(out, expr[start:])
}

// leadingType returns the identifier an expression branch starts with,
// looking through opening parentheses: "(Observation.value as Quantity)"
// starts with Observation.
func leadingType(branch string) string {
	s := strings.TrimLeft(strings.TrimSpace(branch), "( ")
	end := 0
	for end < len(s) && (s[end] == '_' || s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z' || s[end] >= '0' && s[end] <= '9') {
		end++
	}
	return s[:end]
}
