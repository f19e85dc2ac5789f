package sieve

import (
	"slices"
	"strings"
)

// Extensions are the capabilities this implementation supports, in the
// order ManageSieve's SIEVE capability lists them (RFC 5804 §1.7).
var Extensions = []string{
	"fileinto", "copy", "imap4flags", "body", "variables", "vacation",
	"envelope", "reject", "ereject", "relational", "mailbox",
	"comparator-i;ascii-numeric", "date", "encoded-character",
}

// Script is a compiled script, safe for concurrent use.
type Script struct {
	cmds     []*command
	requires map[string]bool
}

// Requires reports whether the script requires the extension.
func (s *Script) Requires(ext string) bool { return s.requires[ext] }

type command struct {
	pos Pos
	act *action
	ifc *ifCmd
}

// ifCmd is if with its elsif and else (RFC 5228 §3.1).
type ifCmd struct {
	conds  []*test
	bodies [][]*command
	els    []*command
}

type action struct {
	kind   string // keep, discard, fileinto, redirect, reject, ereject, vacation, stop, set, setflag, addflag, removeflag
	arg    string // mailbox, address, reason, flag variable name
	list   []string
	copy   bool
	create bool
	flags  []string // :flags of keep and fileinto
	hasFlg bool
	mods   []string // set modifiers
	vac    *vacationSpec
}

type test struct {
	kind      string
	pos       Pos
	m         matcher
	part      string // address part: all, localpart, domain, user, detail
	names     []string
	keys      []string
	sub       []*test
	over      bool
	limit     int64
	transform string // body: raw, content, text
	types     []string
	zone      string // date: :zone
	origZone  bool   // date: :originalzone
}

// Compile parses and checks a script. Errors are *CompileError.
func Compile(src string) (*Script, error) {
	nodes, err := parse(src)
	if err != nil {
		return nil, err
	}
	if requiresEncoded(nodes) {
		if err := decodeNodes(nodes); err != nil {
			return nil, err
		}
	}
	c := &checker{req: map[string]bool{}}
	cmds, err := c.commands(nodes, true)
	if err != nil {
		return nil, err
	}
	if c.req["variables"] {
		if err := walkStrings(nodes, checkMatchRefs); err != nil {
			return nil, err
		}
	}
	return &Script{cmds: cmds, requires: c.req}, nil
}

// checkMatchRefs refuses a match variable past ${9}: RFC 5229 §6 makes a
// reference to an index the implementation does not support a syntax
// error (leading zeroes are allowed, §3.2).
func checkMatchRefs(s *string, p Pos) error {
	for rest := *s; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			return nil
		}
		rest = rest[i+2:]
		digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if digits == 0 || digits == len(rest) || rest[digits] != '}' {
			continue
		}
		if n := strings.TrimLeft(rest[:digits], "0"); len(n) > 1 {
			return errAt(p, "${%s}: match variables go from ${0} to ${9}", rest[:digits])
		}
	}
}

type checker struct {
	req        map[string]bool
	pastHeader bool // require is allowed only before other commands
}

func (c *checker) need(ext string, p Pos, what string) error {
	if !c.req[ext] {
		return errAt(p, "%s needs require \"%s\"", what, ext)
	}
	return nil
}

func (c *checker) commands(nodes []*node, top bool) ([]*command, error) {
	var out []*command
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		if n.name == "require" {
			if !top || c.pastHeader {
				return nil, errAt(n.pos, "require must come before any other command")
			}
			if err := c.require(n); err != nil {
				return nil, err
			}
			continue
		}
		c.pastHeader = true
		switch n.name {
		case "if":
			ic := &ifCmd{}
			for {
				t, body, err := c.branch(n)
				if err != nil {
					return nil, err
				}
				ic.conds, ic.bodies = append(ic.conds, t), append(ic.bodies, body)
				if i+1 >= len(nodes) || nodes[i+1].name != "elsif" {
					break
				}
				i++
				n = nodes[i]
			}
			if i+1 < len(nodes) && nodes[i+1].name == "else" {
				i++
				e := nodes[i]
				if len(e.args) > 0 || len(e.tests) > 0 || !e.hasBlock {
					return nil, errAt(e.pos, "else takes no arguments and needs a block")
				}
				els, err := c.commands(e.block, false)
				if err != nil {
					return nil, err
				}
				ic.els = els
			}
			out = append(out, &command{pos: n.pos, ifc: ic})
		case "elsif", "else":
			return nil, errAt(n.pos, "%s without a preceding if", n.name)
		default:
			if n.hasBlock {
				return nil, errAt(n.pos, "command %s takes no block", n.name)
			}
			if len(n.tests) > 0 {
				return nil, errAt(n.tests[0].pos, "command %s takes no test", n.name)
			}
			a, err := c.action(n)
			if err != nil {
				return nil, err
			}
			out = append(out, &command{pos: n.pos, act: a})
		}
	}
	return out, nil
}

func (c *checker) require(n *node) error {
	if len(n.args) != 1 || n.args[0].kind != argStrings || len(n.tests) > 0 || n.hasBlock {
		return errAt(n.pos, "require takes one string list and ends with ';'")
	}
	for _, ext := range n.args[0].strs {
		known := slices.Contains(Extensions, ext) || ext == "comparator-i;octet" || ext == "comparator-i;ascii-casemap"
		if !known {
			return errAt(n.args[0].pos, "unsupported extension %q (supported: %s)", ext, strings.Join(Extensions, " "))
		}
		c.req[ext] = true
	}
	return nil
}

func (c *checker) branch(n *node) (*test, []*command, error) {
	if len(n.args) > 0 {
		return nil, nil, errAt(n.args[0].pos, "%s takes a test, not arguments", n.name)
	}
	if len(n.tests) != 1 {
		return nil, nil, errAt(n.pos, "%s needs exactly one test", n.name)
	}
	if !n.hasBlock {
		return nil, nil, errAt(n.pos, "%s needs a block", n.name)
	}
	t, err := c.test(n.tests[0])
	if err != nil {
		return nil, nil, err
	}
	body, err := c.commands(n.block, false)
	return t, body, err
}

// tagParam says what follows a tag.
type tagParam int

const (
	pNone tagParam = iota
	pString
	pStrings
	pNumber
)

// argv is a command's or test's arguments sorted into tags and positionals.
type argv struct {
	tags map[string]arg // the tag's parameter (zero arg for pNone)
	pos  []arg
	at   Pos
}

// groups of mutually exclusive tags (RFC 5228 §2.7).
var tagGroups = [][]string{
	{"is", "contains", "matches", "count", "value"},
	{"all", "localpart", "domain", "user", "detail"},
	{"raw", "content", "text"},
	{"over", "under"},
	{"lower", "upper"},
	{"lowerfirst", "upperfirst"},
}

func splitArgs(n *node, spec map[string]tagParam) (*argv, error) {
	a := &argv{tags: map[string]arg{}, at: n.pos}
	for i := 0; i < len(n.args); i++ {
		x := n.args[i]
		if x.kind != argTag {
			a.pos = append(a.pos, x)
			continue
		}
		if len(a.pos) > 0 {
			return nil, errAt(x.pos, "tag :%s must come before the positional arguments of %s", x.tag, n.name)
		}
		p, ok := spec[x.tag]
		if !ok {
			return nil, errAt(x.pos, "unknown tag :%s for %s", x.tag, n.name)
		}
		if _, dup := a.tags[x.tag]; dup {
			return nil, errAt(x.pos, "tag :%s given twice", x.tag)
		}
		for _, g := range tagGroups {
			if slices.Contains(g, x.tag) {
				for _, o := range g {
					if _, ok := a.tags[o]; ok {
						return nil, errAt(x.pos, "tags :%s and :%s exclude each other", o, x.tag)
					}
				}
			}
		}
		val := arg{}
		if p != pNone {
			if i+1 >= len(n.args) {
				return nil, errAt(x.pos, "tag :%s needs a %s", x.tag, paramName(p))
			}
			i++
			val = n.args[i]
			want := argStrings
			if p == pNumber {
				want = argNumber
			}
			if val.kind != want || p == pString && len(val.strs) != 1 {
				return nil, errAt(val.pos, "tag :%s needs a %s", x.tag, paramName(p))
			}
		}
		a.tags[x.tag] = val
	}
	return a, nil
}

func paramName(p tagParam) string {
	return [...]string{"", "string", "string list", "number"}[p]
}

func (a *argv) has(tag string) bool { _, ok := a.tags[tag]; return ok }

func (a *argv) str(tag string) (string, bool) {
	v, ok := a.tags[tag]
	if !ok || len(v.strs) == 0 {
		return "", false
	}
	return v.strs[0], true
}

// positional checks the positional arguments' kinds: 's' a string, 'l' a
// string list, 'n' a number.
func (a *argv) positional(name, kinds string) error {
	if len(a.pos) != len(kinds) {
		return errAt(a.at, "%s takes %d positional argument(s), found %d", name, len(kinds), len(a.pos))
	}
	for i, k := range kinds {
		x := a.pos[i]
		switch {
		case k == 'n' && x.kind != argNumber:
			return errAt(x.pos, "%s: argument %d must be a number", name, i+1)
		case k == 's' && (x.kind != argStrings || len(x.strs) != 1):
			return errAt(x.pos, "%s: argument %d must be a string", name, i+1)
		case k == 'l' && x.kind != argStrings:
			return errAt(x.pos, "%s: argument %d must be a string list", name, i+1)
		}
	}
	return nil
}
