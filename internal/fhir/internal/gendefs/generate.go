package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Input shapes: only the fields the server needs.

type bundle struct {
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type resourceHead struct {
	ResourceType string `json:"resourceType"`
}

type structureDefinition struct {
	ID             string `json:"id"`
	URL            string `json:"url"`
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Type           string `json:"type"`
	BaseDefinition string `json:"baseDefinition"`
	Derivation     string `json:"derivation"`
	Snapshot       struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	IsSummary        bool   `json:"isSummary"`
	IsModifier       bool   `json:"isModifier"`
	Type             []struct {
		Code          string      `json:"code"`
		Extension     []extension `json:"extension"`
		Profile       []string    `json:"profile"`
		TargetProfile []string    `json:"targetProfile"`
	} `json:"type"`
	Binding *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
	Constraint []struct {
		Key        string `json:"key"`
		Severity   string `json:"severity"`
		Human      string `json:"human"`
		Expression string `json:"expression"`
	} `json:"constraint"`
}

type extension struct {
	URL         string `json:"url"`
	ValueURL    string `json:"valueUrl"`
	ValueString string `json:"valueString"`
}

type compartmentDefinition struct {
	Code     string `json:"code"`
	Resource []struct {
		Code  string   `json:"code"`
		Param []string `json:"param"`
	} `json:"resource"`
}

type searchParameter struct {
	URL         string   `json:"url"`
	Code        string   `json:"code"`
	Base        []string `json:"base"`
	Type        string   `json:"type"`
	Expression  string   `json:"expression"`
	Target      []string `json:"target"`
	Modifier    []string `json:"modifier"`
	Comparator  []string `json:"comparator"`
	MultipleOr  *bool    `json:"multipleOr"`
	MultipleAnd *bool    `json:"multipleAnd"`
	Component   []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

type concept struct {
	Code    string    `json:"code"`
	Concept []concept `json:"concept"`
}

type codeSystem struct {
	URL     string    `json:"url"`
	Content string    `json:"content"`
	Concept []concept `json:"concept"`
}

type conceptSet struct {
	System  string `json:"system"`
	Concept []struct {
		Code string `json:"code"`
	} `json:"concept"`
	Filter   []json.RawMessage `json:"filter"`
	ValueSet []string          `json:"valueSet"`
}

type valueSet struct {
	URL     string `json:"url"`
	Compose struct {
		Include []conceptSet `json:"include"`
		Exclude []conceptSet `json:"exclude"`
	} `json:"compose"`
}

const (
	sdPrefix      = "http://hl7.org/fhir/StructureDefinition/"
	fhirTypeExt   = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
	regexExt      = "http://hl7.org/fhir/StructureDefinition/regex"
	systemTypeURL = "http://hl7.org/fhirpath/System."
)

// Kinds of type, as written in the file.
const (
	kindPrimitive = 0
	kindComplex   = 1
	kindResource  = 2
)

func readBundle(dir, name string) ([]json.RawMessage, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]json.RawMessage, len(b.Entry))
	for i, e := range b.Entry {
		out[i] = e.Resource
	}
	return out, nil
}

// Generate reads the four definition Bundles in dir and returns the
// uncompressed table, plus human-readable notes (value sets that could not
// be enumerated).
func Generate(dir string) ([]byte, []string, error) {
	var sds []structureDefinition
	var compartments []compartmentDefinition
	for _, name := range []string{"profiles-types.json", "profiles-resources.json"} {
		res, err := readBundle(dir, name)
		if err != nil {
			return nil, nil, err
		}
		for _, raw := range res {
			var h resourceHead
			if err := json.Unmarshal(raw, &h); err != nil {
				return nil, nil, err
			}
			switch h.ResourceType {
			case "StructureDefinition":
				var sd structureDefinition
				if err := json.Unmarshal(raw, &sd); err != nil {
					return nil, nil, err
				}
				// Only base types: constraint profiles (SimpleQuantity,
				// MoneyQuantity) are handled where they are used, and the
				// logical MetadataResource is not an instance type.
				if sd.Derivation == "constraint" || sd.Kind == "logical" {
					continue
				}
				sds = append(sds, sd)
			case "CompartmentDefinition":
				var cd compartmentDefinition
				if err := json.Unmarshal(raw, &cd); err != nil {
					return nil, nil, err
				}
				compartments = append(compartments, cd)
			}
		}
	}

	spRaw, err := readBundle(dir, "search-parameters.json")
	if err != nil {
		return nil, nil, err
	}
	sps := make([]searchParameter, len(spRaw))
	for i, raw := range spRaw {
		if err := json.Unmarshal(raw, &sps[i]); err != nil {
			return nil, nil, err
		}
	}

	vsRaw, err := readBundle(dir, "valuesets.json")
	if err != nil {
		return nil, nil, err
	}
	t := terminology{cs: map[string]*codeSystem{}, vs: map[string]*valueSet{}}
	for _, raw := range vsRaw {
		var h resourceHead
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, nil, err
		}
		switch h.ResourceType {
		case "CodeSystem":
			var cs codeSystem
			if err := json.Unmarshal(raw, &cs); err != nil {
				return nil, nil, err
			}
			t.cs[cs.URL] = &cs
		case "ValueSet":
			var vs valueSet
			if err := json.Unmarshal(raw, &vs); err != nil {
				return nil, nil, err
			}
			t.vs[vs.URL] = &vs
		}
	}

	var w writer
	w.raw([]byte(magic))
	var bound []string // value sets of required bindings, in first-use order

	// Types.
	w.uint(uint64(len(sds)))
	for _, sd := range sds {
		kind := kindComplex
		switch sd.Kind {
		case "primitive-type":
			kind = kindPrimitive
		case "resource":
			kind = kindResource
		}
		w.str(sd.ID)
		w.uint(uint64(kind))
		w.bool(sd.Abstract)
		w.str(strings.TrimPrefix(sd.BaseDefinition, sdPrefix))
		regex := ""
		var elems []elementDefinition
		for _, e := range sd.Snapshot.Element {
			if kind == kindPrimitive && e.Path == sd.ID+".value" {
				// The primitive's own value: only its regex is kept.
				for _, ty := range e.Type {
					for _, x := range ty.Extension {
						if x.URL == regexExt {
							regex = x.ValueString
						}
					}
				}
				continue
			}
			elems = append(elems, e)
		}
		w.str(regex)
		w.uint(uint64(len(elems)))
		for _, e := range elems {
			w.str(e.Path)
			w.uint(uint64(e.Min))
			if e.Max == "*" {
				w.uint(0)
			} else {
				var n int
				if _, err := fmt.Sscanf(e.Max, "%d", &n); err != nil {
					return nil, nil, fmt.Errorf("%s: bad max %q", e.Path, e.Max)
				}
				w.uint(uint64(n) + 1)
			}
			var flags uint64
			if e.IsSummary {
				flags |= 1
			}
			if e.IsModifier {
				flags |= 2
			}
			w.uint(flags)
			w.str(strings.TrimPrefix(e.ContentReference, "#"))
			binding := ""
			if e.Binding != nil && e.Binding.Strength == "required" && e.Binding.ValueSet != "" {
				binding, _, _ = strings.Cut(e.Binding.ValueSet, "|")
				if !slices.Contains(bound, binding) {
					bound = append(bound, binding)
				}
			}
			w.str(binding)
			w.uint(uint64(len(e.Type)))
			for _, ty := range e.Type {
				w.str(typeCode(sd, e, ty.Code, ty.Extension))
				profile := ""
				if len(ty.Profile) > 0 {
					profile = strings.TrimPrefix(ty.Profile[0], sdPrefix)
				}
				w.str(profile)
				w.uint(uint64(len(ty.TargetProfile)))
				for _, tp := range ty.TargetProfile {
					w.str(strings.TrimPrefix(tp, sdPrefix))
				}
			}
			var keep []int
			for i, c := range e.Constraint {
				// ele-1 (every element has a value or children) is on
				// every element and is checked structurally; ext-1 is
				// kept once, on the Extension type itself.
				if c.Key == "ele-1" || (c.Key == "ext-1" && e.Path != "Extension") {
					continue
				}
				keep = append(keep, i)
			}
			w.uint(uint64(len(keep)))
			for _, i := range keep {
				c := e.Constraint[i]
				w.str(c.Key)
				w.str(c.Severity)
				w.str(c.Human)
				w.str(c.Expression)
			}
		}
	}

	// Value sets of required bindings.
	var report []string
	w.uint(uint64(len(bound)))
	for _, url := range bound {
		codes, reason := t.expand(url, 0)
		w.str(url)
		w.str(reason)
		if reason != "" {
			report = append(report, fmt.Sprintf("value set %s not enumerated: %s", url, reason))
			codes = nil
		}
		w.uint(uint64(len(codes)))
		for _, c := range codes {
			w.str(c.system)
			w.str(c.code)
		}
	}

	// Search parameters, in file order.
	w.uint(uint64(len(sps)))
	for _, sp := range sps {
		w.str(sp.Code)
		w.str(sp.URL)
		w.str(sp.Type)
		w.str(sp.Expression)
		w.strs(sp.Base)
		w.strs(sp.Target)
		w.strs(sp.Modifier)
		w.strs(sp.Comparator)
		w.optBool(sp.MultipleOr)
		w.optBool(sp.MultipleAnd)
		w.uint(uint64(len(sp.Component)))
		for _, c := range sp.Component {
			w.str(c.Definition)
			w.str(c.Expression)
		}
	}

	// Compartments.
	w.uint(uint64(len(compartments)))
	for _, cd := range compartments {
		w.str(cd.Code)
		w.uint(uint64(len(cd.Resource)))
		for _, r := range cd.Resource {
			w.str(r.Code)
			w.strs(r.Param)
		}
	}

	return w.finish(), report, nil
}

// typeCode returns the FHIR type name of an element type. The definitions
// write the types of primitive values, Element.id and Extension.url as
// FHIRPath system types with the FHIR type in an extension.
func typeCode(sd structureDefinition, e elementDefinition, code string, exts []extension) string {
	if !strings.HasPrefix(code, systemTypeURL) {
		return code
	}
	// Resource.id is of type id (resource.html); the R4 snapshots write
	// string, which would lose the id rules.
	if sd.Kind == "resource" && e.Path == sd.ID+".id" {
		return "id"
	}
	for _, x := range exts {
		if x.URL == fhirTypeExt && x.ValueURL != "" {
			return x.ValueURL
		}
	}
	return "string"
}

// Terminology.

type code struct{ system, code string }

type terminology struct {
	cs map[string]*codeSystem
	vs map[string]*valueSet
}

// expand enumerates a value set, or says why it cannot.
func (t *terminology) expand(url string, depth int) ([]code, string) {
	if depth > 10 {
		return nil, "value set imports nest too deeply"
	}
	vs := t.vs[url]
	if vs == nil {
		return nil, "value set not in valuesets.json"
	}
	var out []code
	seen := map[code]bool{}
	for _, inc := range vs.Compose.Include {
		codes, reason := t.conceptSet(inc, depth)
		if reason != "" {
			return nil, reason
		}
		for _, c := range codes {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	for _, exc := range vs.Compose.Exclude {
		codes, reason := t.conceptSet(exc, depth)
		if reason != "" {
			return nil, "exclude: " + reason
		}
		for _, c := range codes {
			if seen[c] {
				delete(seen, c)
				out = slices.DeleteFunc(out, func(x code) bool { return x == c })
			}
		}
	}
	if len(out) == 0 {
		return nil, "value set is empty"
	}
	return out, ""
}

func (t *terminology) conceptSet(s conceptSet, depth int) ([]code, string) {
	if len(s.Filter) > 0 {
		return nil, "include by filter on " + s.System
	}
	var out []code
	if s.System != "" {
		if len(s.Concept) > 0 {
			for _, c := range s.Concept {
				out = append(out, code{s.System, c.Code})
			}
		} else {
			cs := t.cs[s.System]
			if cs == nil {
				return nil, "code system " + s.System + " is external"
			}
			if cs.Content != "complete" {
				return nil, "code system " + s.System + " content is " + cs.Content
			}
			var walk func([]concept)
			walk = func(cs []concept) {
				for _, c := range cs {
					out = append(out, code{s.System, c.Code})
					walk(c.Concept)
				}
			}
			walk(cs.Concept)
		}
	}
	for _, ref := range s.ValueSet {
		u, _, _ := strings.Cut(ref, "|")
		codes, reason := t.expand(u, depth+1)
		if reason != "" {
			return nil, reason
		}
		if s.System != "" {
			// Intersection with the system's codes.
			codes = slices.DeleteFunc(codes, func(c code) bool { return !slices.Contains(out, c) })
			out = nil
		}
		out = append(out, codes...)
	}
	return out, ""
}

// Encoding: a string table followed by the body, all integers as uvarints.

const magic = "HFD1"

type writer struct {
	body  []byte
	index map[string]uint64
	table []string
}

func (w *writer) raw(b []byte) { w.body = append(w.body, b...) }

func (w *writer) uint(v uint64) { w.body = binary.AppendUvarint(w.body, v) }

func (w *writer) bool(b bool) {
	if b {
		w.uint(1)
	} else {
		w.uint(0)
	}
}

func (w *writer) optBool(b *bool) {
	switch {
	case b == nil:
		w.uint(0)
	case !*b:
		w.uint(1)
	default:
		w.uint(2)
	}
}

func (w *writer) str(s string) {
	if w.index == nil {
		w.index = map[string]uint64{"": 0}
		w.table = []string{""}
	}
	i, ok := w.index[s]
	if !ok {
		i = uint64(len(w.table))
		w.index[s] = i
		w.table = append(w.table, s)
	}
	w.uint(i)
}

func (w *writer) strs(ss []string) {
	w.uint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

// finish returns magic, string table (count, lengths, bytes) and body.
func (w *writer) finish() []byte {
	if w.table == nil {
		w.table = []string{""}
	}
	out := []byte(magic)
	out = binary.AppendUvarint(out, uint64(len(w.table)))
	for _, s := range w.table {
		out = binary.AppendUvarint(out, uint64(len(s)))
	}
	for _, s := range w.table {
		out = append(out, s...)
	}
	return append(out, w.body[len(magic):]...)
}
