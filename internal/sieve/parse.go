package sieve

// The generic syntax of RFC 5228 §8.2: commands with arguments, tests and
// blocks. What each command means is the checker's business (check.go).

// maxNesting bounds blocks and tests inside each other, so that a hostile
// script cannot exhaust the stack.
const maxNesting = 64

// maxListItems bounds a string list or a test list.
const maxListItems = 1024

type argKind int

const (
	argStrings argKind = iota
	argNumber
	argTag
)

type arg struct {
	kind argKind
	strs []string
	num  int64
	tag  string
	pos  Pos
}

type node struct {
	name  string
	pos   Pos
	args  []arg
	tests []*node // a test's or command's test(s)
	block []*node // a command's block, nil without one
	// hasBlock tells "{ }" from ";".
	hasBlock bool
}

type parser struct {
	lx    lexer
	tok   token
	depth int
}

// parse turns src into the generic syntax tree.
func parse(src string) ([]*node, error) {
	if len(src) > MaxScriptSize {
		return nil, errAt(Pos{1, 1}, "script larger than %d bytes", MaxScriptSize)
	}
	p := &parser{lx: lexer{src: src, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errAt(p.tok.pos, "expected a command, found %s", p.tok.describe())
	}
	return cmds, nil
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(c string) bool { return p.tok.kind == tPunct && p.tok.text == c }

func (p *parser) expect(c string) error {
	if !p.isPunct(c) {
		return errAt(p.tok.pos, "expected '%s', found %s", c, p.tok.describe())
	}
	return p.advance()
}

func (p *parser) commands() ([]*node, error) {
	var out []*node
	for p.tok.kind == tIdent {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) command() (*node, error) {
	n, err := p.testOrCommand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.isPunct(";"):
		return n, p.advance()
	case p.isPunct("{"):
		if p.depth++; p.depth > maxNesting {
			return nil, errAt(p.tok.pos, "blocks nested too deeply")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if n.block, err = p.commands(); err != nil {
			return nil, err
		}
		n.hasBlock = true
		p.depth--
		return n, p.expect("}")
	}
	return nil, errAt(p.tok.pos, "expected ';' or '{' after command %s, found %s", n.name, p.tok.describe())
}

// testOrCommand reads an identifier and its arguments (§8.2 "arguments").
func (p *parser) testOrCommand() (*node, error) {
	if p.tok.kind != tIdent {
		return nil, errAt(p.tok.pos, "expected an identifier, found %s", p.tok.describe())
	}
	n := &node{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for {
		a, ok, err := p.argument()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		n.args = append(n.args, a)
	}
	switch {
	case p.tok.kind == tIdent:
		t, err := p.test()
		if err != nil {
			return nil, err
		}
		n.tests = []*node{t}
	case p.isPunct("("):
		ts, err := p.testList()
		if err != nil {
			return nil, err
		}
		n.tests = ts
	}
	return n, nil
}

func (p *parser) test() (*node, error) {
	if p.depth++; p.depth > maxNesting {
		return nil, errAt(p.tok.pos, "tests nested too deeply")
	}
	defer func() { p.depth-- }()
	return p.testOrCommand()
}

func (p *parser) testList() ([]*node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var out []*node
	for {
		t, err := p.test()
		if err != nil {
			return nil, err
		}
		if out = append(out, t); len(out) > maxListItems {
			return nil, errAt(t.pos, "too many tests in a list")
		}
		if p.isPunct(")") {
			return out, p.advance()
		}
		if err := p.expect(","); err != nil {
			return nil, errAt(p.tok.pos, "expected ',' or ')' in test list, found %s", p.tok.describe())
		}
	}
}

// argument reads one string list, number or tag; ok is false when the
// token starts none.
func (p *parser) argument() (arg, bool, error) {
	t := p.tok
	switch {
	case t.kind == tString:
		return arg{kind: argStrings, strs: []string{t.text}, pos: t.pos}, true, p.advance()
	case t.kind == tNumber:
		return arg{kind: argNumber, num: t.num, pos: t.pos}, true, p.advance()
	case t.kind == tTag:
		return arg{kind: argTag, tag: t.text, pos: t.pos}, true, p.advance()
	case p.isPunct("["):
		strs, err := p.stringList()
		return arg{kind: argStrings, strs: strs, pos: t.pos}, true, err
	}
	return arg{}, false, nil
}

func (p *parser) stringList() ([]string, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var out []string
	for {
		if p.tok.kind != tString {
			return nil, errAt(p.tok.pos, "expected a string in string list, found %s", p.tok.describe())
		}
		if out = append(out, p.tok.text); len(out) > maxListItems {
			return nil, errAt(p.tok.pos, "too many strings in a list")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.isPunct("]") {
			return out, p.advance()
		}
		if !p.isPunct(",") {
			return nil, errAt(p.tok.pos, "expected ',' or ']' in string list, found %s", p.tok.describe())
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}
