package fhirpath

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Parser limits for untrusted expressions.
const (
	// maxExpressionLength bounds the source text Compile accepts. The
	// longest R4 search parameter expression is under 1,400 bytes.
	maxExpressionLength = 16 << 10
	// maxNesting bounds the nesting of parentheses, function arguments,
	// operators and unary signs, which bounds parser and evaluator
	// recursion.
	maxNesting = 100
)

// parser is a precedence-climbing parser producing evaluable nodes.
type parser struct {
	toks  []token
	i     int
	depth int
	lits  []*literalNode // literal collections created
}

// parse compiles src and returns the literal collections results may
// alias.
func parse(src string) (node, []*literalNode, error) {
	if len(src) > maxExpressionLength {
		return nil, nil, syntaxErrorf(0, "expression longer than %d bytes", maxExpressionLength)
	}
	if !utf8.ValidString(src) {
		return nil, nil, syntaxErrorf(0, "expression is not valid UTF-8")
	}
	toks, err := tokenize(src)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{toks: toks}
	n, err := p.expr(0)
	if err != nil {
		return nil, nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, nil, syntaxErrorf(t.pos, "unexpected %s", describe(t))
	}
	return n, p.lits, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isSymbol(s string) bool {
	t := p.peek()
	return t.kind == tSymbol && t.text == s
}

func (p *parser) expect(s string) error {
	if !p.isSymbol(s) {
		t := p.peek()
		return syntaxErrorf(t.pos, "expected %q, found %s", s, describe(t))
	}
	p.i++
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxNesting {
		return syntaxErrorf(p.peek().pos, "expression nested deeper than %d", maxNesting)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "string literal"
	case tNumber:
		return "number " + truncate(t.text)
	}
	return strconv.Quote(truncate(t.text))
}

// keywords cannot be used as plain identifiers.
var keywords = map[string]bool{
	"and": true, "or": true, "xor": true, "implies": true, "div": true, "mod": true,
	"true": true, "false": true,
}

// expr parses operators binding at least as tightly as minPrec.
func (p *parser) expr(minPrec int) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tSymbol && t.kind != tIdent {
			return left, nil
		}
		op, ok := binaryOps[t.text]
		if !ok || op.prec < minPrec {
			return left, nil
		}
		p.i++
		if t.text == "is" || t.text == "as" {
			ts, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &typeOpNode{operand: left, ts: ts, isOp: t.text == "is"}
			continue
		}
		right, err := p.expr(op.prec + 1)
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: op.op, sym: t.text, left: left, right: right}
	}
}

// unary parses polarity, which binds looser than '.' and '[]': -1.abs()
// is -(1.abs()). A sign on a literal is folded at compile time.
func (p *parser) unary() (node, error) {
	t := p.peek()
	if t.kind != tSymbol || (t.text != "+" && t.text != "-") {
		return p.postfix()
	}
	p.i++
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	operand, err := p.unary()
	if err != nil {
		return nil, err
	}
	n := &unaryNode{neg: t.text == "-", operand: operand}
	if _, ok := operand.(*literalNode); ok {
		v, err := n.eval(&evalCtx{opt: &zeroOptions, index: -1}, nil)
		if err != nil {
			return nil, syntaxErrorf(t.pos, "%v", err)
		}
		return p.literal(v...), nil
	}
	return n, nil
}

func (p *parser) postfix() (node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isSymbol("."):
			p.i++
			inv, err := p.invocation()
			if err != nil {
				return nil, err
			}
			n = &dotNode{left: n, right: inv}
		case p.isSymbol("["):
			p.i++
			idx, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			n = &indexerNode{coll: n, index: idx}
		default:
			return n, nil
		}
	}
}

// invocation parses what follows '.': a member, a function call or a
// special variable.
func (p *parser) invocation() (node, error) {
	t := p.next()
	switch t.kind {
	case tIdent, tDelimIdent:
		if p.isSymbol("(") {
			return p.call(t)
		}
		if t.kind == tIdent && keywords[t.text] {
			return nil, syntaxErrorf(t.pos, "unexpected keyword %q", t.text)
		}
		return newIdent(t.text), nil
	case tSpecial:
		return special(t), nil
	}
	return nil, syntaxErrorf(t.pos, "expected a name after '.', found %s", describe(t))
}

func newIdent(name string) *identNode {
	return &identNode{name: name, upper: name != "" && isUpper(name[0]), builtin: isBuiltinType(name), leaf: isLeafType(name)}
}

func special(t token) node {
	switch t.text {
	case "this":
		return thisNode{}
	case "index":
		return indexVarNode{}
	}
	return totalNode{}
}

// literal makes a literal node and records it, as results may alias it.
func (p *parser) literal(items ...Item) node {
	n := &literalNode{items: items}
	if len(items) > 0 {
		p.lits = append(p.lits, n)
	}
	return n
}

func (p *parser) term() (node, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		return p.number(t)
	case tString:
		return p.literal(Item{Value: t.text, Type: typeString}), nil
	case tDate:
		d, ok := parseDate(t.text)
		if !ok {
			return nil, syntaxErrorf(t.pos, "invalid date literal")
		}
		return p.literal(Item{Value: d, Type: typeDate}), nil
	case tDateTime:
		d, ok := parseDateTime(t.text)
		if !ok {
			return nil, syntaxErrorf(t.pos, "invalid date-time literal")
		}
		return p.literal(Item{Value: d, Type: typeDateTime}), nil
	case tTime:
		tm, ok := parseTime(t.text)
		if !ok {
			return nil, syntaxErrorf(t.pos, "invalid time literal")
		}
		return p.literal(Item{Value: tm, Type: typeTime}), nil
	case tIdent:
		switch t.text {
		case "true":
			return p.literal(Item{Value: true, Type: typeBoolean}), nil
		case "false":
			return p.literal(Item{Value: false, Type: typeBoolean}), nil
		}
		if p.isSymbol("(") {
			return p.call(t)
		}
		if keywords[t.text] {
			return nil, syntaxErrorf(t.pos, "unexpected keyword %q", t.text)
		}
		return newIdent(t.text), nil
	case tDelimIdent:
		if p.isSymbol("(") {
			return p.call(t)
		}
		return newIdent(t.text), nil
	case tSpecial:
		return special(t), nil
	case tConstant:
		return p.constant(t), nil
	case tSymbol:
		switch t.text {
		case "(":
			n, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return n, nil
		case "{":
			if err := p.expect("}"); err != nil {
				return nil, err
			}
			return &literalNode{}, nil
		}
	}
	return nil, syntaxErrorf(t.pos, "unexpected %s", describe(t))
}

// number parses an Integer, Decimal or Quantity literal.
func (p *parser) number(t token) (node, error) {
	next := p.peek()
	unit := ""
	switch {
	case next.kind == tString:
		unit = next.text
	case next.kind == tIdent:
		if _, ok := calendarKeywords[next.text]; ok {
			unit = next.text
		}
	}
	if unit != "" {
		p.i++
		if _, ok := parseDecimal(t.text); !ok {
			return nil, syntaxErrorf(t.pos, "number literal out of range")
		}
		return p.literal(Item{Value: Quantity{Value: json.Number(t.text), Unit: unit}, Type: typeQuantity}), nil
	}
	if isAllDigits(t.text) {
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, syntaxErrorf(t.pos, "integer literal out of range")
		}
		return p.literal(Item{Value: i, Type: typeInteger}), nil
	}
	if _, ok := parseDecimal(t.text); !ok {
		return nil, syntaxErrorf(t.pos, "number literal out of range")
	}
	return p.literal(Item{Value: json.Number(t.text), Type: typeDecimal}), nil
}

// constant resolves the external constants FHIR defines; others are
// looked up at evaluation time.
func (p *parser) constant(t token) node {
	name := t.text
	url := ""
	switch {
	case name == "ucum":
		url = ucumSystem
	case name == "sct":
		url = "http://snomed.info/sct"
	case name == "loinc":
		url = "http://loinc.org"
	case len(name) > 3 && name[:3] == "vs-":
		url = "http://hl7.org/fhir/ValueSet/" + name[3:]
	case len(name) > 4 && name[:4] == "ext-":
		url = "http://hl7.org/fhir/StructureDefinition/" + name[4:]
	}
	if url != "" {
		return p.literal(Item{Value: url, Type: typeString})
	}
	return &varNode{name: name}
}

// typeSpecifier parses the type after is/as: Name, FHIR.Name or System.Name.
func (p *parser) typeSpecifier() (*typeSpec, error) {
	t := p.next()
	if t.kind != tIdent && t.kind != tDelimIdent {
		return nil, syntaxErrorf(t.pos, "expected a type name, found %s", describe(t))
	}
	ns, name := "", t.text
	if (name == "FHIR" || name == "System") && p.isSymbol(".") {
		if n := p.peekAt(1); n.kind == tIdent || n.kind == tDelimIdent {
			p.i += 2
			ns, name = name, n.text
		}
	}
	return newTypeSpec(ns, name, t.pos)
}

// call parses a function's arguments and checks the call.
func (p *parser) call(name token) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var args []node
	if !p.isSymbol(")") {
		for {
			a, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if !p.isSymbol(",") {
				break
			}
			p.i++
		}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	def, ok := functions[name.text]
	if !ok {
		return nil, syntaxErrorf(name.pos, "unknown function %s()", truncate(name.text))
	}
	if len(args) < def.min || len(args) > def.max {
		return nil, syntaxErrorf(name.pos, "%s() takes %s, got %d", def.name, arity(def), len(args))
	}
	f := &funcNode{def: def, args: args}
	switch {
	case def.typeArg:
		ts, err := typeArgument(args[0], name.pos)
		if err != nil {
			return nil, err
		}
		f.ts = ts
	case def.name == "sort":
		f.desc = make([]bool, len(args))
		for i, a := range args {
			if u, ok := a.(*unaryNode); ok && u.neg {
				f.desc[i], args[i] = true, u.operand
			}
		}
	case def.name == "matches" || def.name == "matchesFull" || def.name == "replaceMatches":
		if lit, ok := args[0].(*literalNode); ok && len(lit.items) == 1 {
			if s, ok := lit.items[0].Value.(string); ok && s != "" {
				re, err := compileRegex(s, def.name == "matchesFull")
				if err != nil {
					return nil, syntaxErrorf(name.pos, "%v", err)
				}
				f.re = re
			}
		}
	}
	return f, nil
}

func arity(d *funcDef) string {
	switch {
	case d.min == d.max && d.min == 0:
		return "no arguments"
	case d.min == d.max:
		return strconv.Itoa(d.min) + " argument(s)"
	}
	return strconv.Itoa(d.min) + " to " + strconv.Itoa(d.max) + " arguments"
}

// typeArgument reads a type specifier written as a function argument:
// Name, FHIR.Name, System.Name (or with `backticks`).
func typeArgument(a node, pos int) (*typeSpec, error) {
	switch n := a.(type) {
	case *identNode:
		return newTypeSpec("", n.name, pos)
	case *dotNode:
		ns, ok1 := n.left.(*identNode)
		name, ok2 := n.right.(*identNode)
		if ok1 && ok2 {
			return newTypeSpec(ns.name, name.name, pos)
		}
	}
	return nil, syntaxErrorf(pos, "expected a type name as argument")
}
