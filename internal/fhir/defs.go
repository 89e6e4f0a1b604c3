package fhir

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ./internal/gendefs

// definitionsGz is the table written by internal/gendefs from the official
// R4 (4.0.1) definition Bundles (HL7, CC0). After gunzip it is:
//
//	"HFD1"
//	string table: count, count lengths, then the bytes of every string;
//	              string 0 is ""; all later strings are uvarint indexes into it
//	types:        count, per type: name, kind (0 primitive, 1 complex,
//	              2 resource), abstract, base type, primitive regex,
//	              elements: count, per element: path, min, max (0 = "*",
//	              else max+1), flags (1 summary, 2 modifier),
//	              contentReference (without '#'), required value set,
//	              types: count, per type: code, profile, targets (count, names)
//	              constraints: count, per constraint: key, severity, human, expression
//	value sets:   count, per value set: url, reason it is not enumerated
//	              ("" when it is), codes: count, per code: system, code
//	search params: count, per parameter: code, url, type, expression, base,
//	              target, modifier, comparator (each count + strings),
//	              multipleOr, multipleAnd (0 absent, 1 false, 2 true),
//	              components: count, per component: definition, expression
//	compartments: count, per compartment: code, resources: count, per
//	              resource: type, params (count + strings)
//
// All integers are unsigned varints.
//
//go:embed definitions.bin.gz
var definitionsGz []byte

var (
	loadOnce sync.Once
	defs     *Definitions
)

// load returns the decoded definitions, decoding them on first use. The
// embedded table is generated and tested, so a decoding error is a build
// defect and panics.
func load() *Definitions {
	loadOnce.Do(func() {
		d, err := decodeDefinitions(definitionsGz)
		if err != nil {
			panic("fhir: embedded definitions are corrupt: " + err.Error())
		}
		defs = d
	})
	return defs
}

// Definitions holds the embedded R4 definitions. It is immutable after
// loading and safe for concurrent use.
type Definitions struct {
	types         map[string]*typeDef
	tables        map[string]*table // by type name and by backbone element path
	resourceTypes []string
	valueSets     map[string]*valueSet
	searchParams  []SearchParam
	searchByURL   map[string]int
	compartments  map[string]map[string][]string
	extension     *table // the Extension type, used by validation
}

type kind uint8

const (
	kindPrimitive kind = iota
	kindComplex
	kindResource
	kindBackbone // an inline element with its own children (typed by its path)
)

type typeDef struct {
	name        string
	kind        kind
	abstract    bool
	base        string
	regex       string
	table       *table
	constraints []Constraint
	ofType      string // "ofType(Name)", a path step
}

// table lists the child elements of one type or backbone element.
type table struct {
	name     string // type name or backbone path
	base     string // BaseType of a backbone path ("BackboneElement" or "Element")
	kind     kind
	elems    []*element
	byName   map[string]*element // by element name; a choice element by its base name ("value")
	byKey    map[string]keyRef   // by JSON property name ("valueQuantity" for a choice)
	required []*element          // elements with min > 0
}

// keyRef is a JSON property name resolved to its element, and for a choice
// element to the chosen type.
type keyRef struct {
	elem *element
	typ  int // index into elem.types
}

type element struct {
	name      string // "value" for value[x]
	path      string // full path, e.g. "Patient.contact.name"
	index     int    // position in its table
	min       int
	max       int // -1 for "*"
	choice    bool
	summary   bool
	modifier  bool
	types     []elemType
	typeNames []string  // as Model().Child reports them
	binding   *valueSet // required binding, nil if none
}

type elemType struct {
	code    string
	kind    kind
	profile string   // "SimpleQuantity" or ""
	targets []string // Reference / canonical target types ("Resource" = any)
	table   *table   // children of this type (complex types and backbones)
	prim    primKind // for primitives
	ofType  string   // "ofType(code)", the path step of a choice
}

type valueSet struct {
	url     string
	reason  string // why the value set is not enumerated; "" when it is
	codes   map[string]bool
	systems map[string]bool
	pairs   map[[2]string]bool // system|code
}

// decodeDefinitions decodes the gzipped table described above.
func decodeDefinitions(gz []byte) (*Definitions, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	r := &reader{data: raw}
	if !bytes.HasPrefix(raw, []byte("HFD1")) {
		return nil, errors.New("bad magic")
	}
	r.pos = 4
	if err := r.readStrings(); err != nil {
		return nil, err
	}

	d := &Definitions{
		types:        map[string]*typeDef{},
		tables:       map[string]*table{},
		valueSets:    map[string]*valueSet{},
		searchByURL:  map[string]int{},
		compartments: map[string]map[string][]string{},
	}

	// Raw elements are kept until every type is known, then linked.
	type rawType struct {
		code, profile string
		targets       []string
	}
	type rawElem struct {
		path, contentRef, binding string
		min, max                  int
		summary, modifier         bool
		types                     []rawType
	}
	rawElems := map[string][]rawElem{}
	var order []string

	nTypes := r.uint()
	for range nTypes {
		t := &typeDef{name: r.str(), kind: kind(r.uint()), abstract: r.uint() == 1, base: r.str(), regex: r.str()}
		t.ofType = "ofType(" + t.name + ")"
		nElems := r.uint()
		elems := make([]rawElem, 0, nElems)
		for range nElems {
			e := rawElem{path: r.str(), min: int(r.uint())}
			if m := r.uint(); m == 0 {
				e.max = -1
			} else {
				e.max = int(m - 1)
			}
			flags := r.uint()
			e.summary, e.modifier = flags&1 != 0, flags&2 != 0
			e.contentRef = r.str()
			e.binding = r.str()
			nt := r.uint()
			e.types = make([]rawType, 0, nt)
			for range nt {
				rt := rawType{code: r.str(), profile: r.str()}
				rt.targets = r.strs()
				e.types = append(e.types, rt)
			}
			for range r.uint() {
				c := Constraint{Key: r.str(), Severity: r.str(), Human: r.str(), Expression: r.str(), Path: e.path}
				c.Native = nativeInvariants[c.Key]
				t.constraints = append(t.constraints, c)
			}
			elems = append(elems, e)
		}
		if r.err != nil {
			return nil, r.err
		}
		d.types[t.name] = t
		rawElems[t.name] = elems
		order = append(order, t.name)
		if t.kind == kindResource && !t.abstract {
			d.resourceTypes = append(d.resourceTypes, t.name)
		}
	}
	slices.Sort(d.resourceTypes)

	for range r.uint() {
		vs := &valueSet{url: r.str(), reason: r.str()}
		n := r.uint()
		if n > 0 {
			vs.codes = make(map[string]bool, n)
			vs.systems = map[string]bool{}
			vs.pairs = make(map[[2]string]bool, n)
		}
		for range n {
			system, code := r.str(), r.str()
			vs.codes[code] = true
			vs.systems[system] = true
			vs.pairs[[2]string{system, code}] = true
		}
		d.valueSets[vs.url] = vs
	}

	nsp := r.uint()
	d.searchParams = make([]SearchParam, 0, nsp)
	for range nsp {
		sp := SearchParam{Code: r.str(), URL: r.str(), Type: r.str(), Expression: r.str()}
		sp.Base, sp.Target, sp.Modifier, sp.Comparator = r.strs(), r.strs(), r.strs(), r.strs()
		sp.MultipleOr, sp.MultipleAnd = r.optBool(), r.optBool()
		for range r.uint() {
			sp.Component = append(sp.Component, SearchComponent{Definition: r.str(), Expression: r.str()})
		}
		d.searchByURL[sp.URL] = len(d.searchParams)
		d.searchParams = append(d.searchParams, sp)
	}

	for range r.uint() {
		code := r.str()
		m := map[string][]string{}
		for range r.uint() {
			rt := r.str()
			if params := r.strs(); len(params) > 0 {
				m[rt] = params
			}
		}
		d.compartments[code] = m
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.pos != len(r.data) {
		return nil, errors.New("trailing data")
	}

	// Tables: one per type and one per backbone element path.
	for _, name := range order {
		t := d.types[name]
		tb := &table{name: name, kind: t.kind, byName: map[string]*element{}, byKey: map[string]keyRef{}}
		t.table = tb
		d.tables[name] = tb
		for _, e := range rawElems[name][1:] {
			if len(e.types) == 1 && (e.types[0].code == "BackboneElement" || e.types[0].code == "Element") {
				d.tables[e.path] = &table{name: e.path, base: e.types[0].code, kind: kindBackbone, byName: map[string]*element{}, byKey: map[string]keyRef{}}
			}
		}
	}
	for _, name := range order {
		elems := rawElems[name]
		if len(elems) == 0 || elems[0].path != name {
			return nil, fmt.Errorf("type %s: first element is not the root", name)
		}
		for _, re := range elems[1:] {
			dot := strings.LastIndexByte(re.path, '.')
			parent := d.tables[re.path[:dot]]
			if parent == nil {
				return nil, fmt.Errorf("element %s: no parent", re.path)
			}
			e := &element{
				name:     re.path[dot+1:],
				path:     re.path,
				min:      re.min,
				max:      re.max,
				summary:  re.summary,
				modifier: re.modifier,
			}
			if strings.HasSuffix(e.name, "[x]") {
				e.name = strings.TrimSuffix(e.name, "[x]")
				e.choice = true
			}
			if re.binding != "" {
				e.binding = d.valueSets[re.binding]
			}
			switch {
			case re.contentRef != "":
				tb := d.tables[re.contentRef]
				if tb == nil {
					return nil, fmt.Errorf("element %s: unknown contentReference %s", re.path, re.contentRef)
				}
				e.types = []elemType{{code: re.contentRef, kind: kindBackbone, table: tb}}
			case d.tables[re.path] != nil && d.tables[re.path].kind == kindBackbone:
				e.types = []elemType{{code: re.path, kind: kindBackbone, table: d.tables[re.path]}}
			default:
				for _, rt := range re.types {
					td := d.types[rt.code]
					if td == nil {
						return nil, fmt.Errorf("element %s: unknown type %s", re.path, rt.code)
					}
					et := elemType{code: rt.code, kind: td.kind, profile: rt.profile, targets: rt.targets, table: td.table, ofType: td.ofType}
					if td.kind == kindPrimitive {
						et.prim = primKindOf(rt.code)
					}
					e.types = append(e.types, et)
				}
			}
			e.typeNames = make([]string, len(e.types))
			for i, et := range e.types {
				e.typeNames[i] = et.code
			}
			e.index = len(parent.elems)
			parent.elems = append(parent.elems, e)
			parent.byName[e.name] = e
			if e.min > 0 {
				parent.required = append(parent.required, e)
			}
			if e.choice {
				for i, et := range e.types {
					key := e.name + strings.ToUpper(et.code[:1]) + et.code[1:]
					parent.byKey[key] = keyRef{elem: e, typ: i}
				}
			} else {
				parent.byKey[e.name] = keyRef{elem: e}
			}
		}
	}
	d.extension = d.tables["Extension"]
	return d, nil
}

type reader struct {
	data  []byte
	pos   int
	err   error
	table []string // the string table
}

func (r *reader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data[r.pos:])
	if n <= 0 {
		r.err = errors.New("truncated")
		return 0
	}
	r.pos += n
	return v
}

func (r *reader) readStrings() error {
	n := r.uint()
	if n > uint64(len(r.data)) {
		return errors.New("bad string count")
	}
	lens := make([]int, n)
	total := 0
	for i := range lens {
		lens[i] = int(r.uint())
		total += lens[i]
	}
	if r.err != nil || total > len(r.data)-r.pos {
		return errors.New("bad string table")
	}
	blob := string(r.data[r.pos : r.pos+total]) // one allocation for every string
	r.pos += total
	r.table = make([]string, n)
	off := 0
	for i, l := range lens {
		r.table[i] = blob[off : off+l]
		off += l
	}
	return nil
}

func (r *reader) str() string {
	i := r.uint()
	if i >= uint64(len(r.table)) {
		if r.err == nil {
			r.err = errors.New("bad string index")
		}
		return ""
	}
	return r.table[i]
}

func (r *reader) strs() []string {
	n := r.uint()
	if n == 0 || r.err != nil {
		return nil
	}
	out := make([]string, 0, min(n, 64))
	for range n {
		out = append(out, r.str())
	}
	return out
}

func (r *reader) optBool() *bool {
	switch r.uint() {
	case 1:
		b := false
		return &b
	case 2:
		b := true
		return &b
	}
	return nil
}

// ResourceTypes returns the 146 concrete R4 resource types, sorted.
func ResourceTypes() []string {
	return slices.Clone(load().resourceTypes)
}

// IsResourceType reports whether name is a concrete R4 resource type.
func IsResourceType(name string) bool {
	t := load().types[name]
	return t != nil && t.kind == kindResource && !t.abstract
}

// IsType reports whether name is a known R4 type: a resource type
// (including the abstract Resource and DomainResource), a complex data type
// (including Element and BackboneElement) or a primitive type.
func IsType(name string) bool {
	return load().types[name] != nil
}

// ValidID reports whether id is a valid FHIR id: 1 to 64 characters from
// A-Z, a-z, 0-9, '-' and '.'.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			return false
		}
	}
	return true
}

func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}
