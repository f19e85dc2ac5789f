package sieve

import (
	"strings"
)

// vacationSpec is a vacation command's arguments (RFC 5230 §4).
type vacationSpec struct {
	days      int64
	hasDays   bool
	subject   string
	from      string
	addresses []string
	mime      bool
	handle    string
	reason    string
}

func (c *checker) action(n *node) (*action, error) {
	a := &action{kind: n.name}
	switch n.name {
	case "keep", "discard", "stop":
		spec := map[string]tagParam{}
		if n.name == "keep" && c.req["imap4flags"] {
			spec["flags"] = pStrings
		}
		av, err := splitArgs(n, spec)
		if err != nil {
			return nil, err
		}
		a.flags, a.hasFlg = flagsArg(av)
		return a, av.positional(n.name, "")
	case "fileinto":
		return c.fileinto(n)
	case "redirect":
		spec := map[string]tagParam{}
		c.optional(spec, "copy", "copy", pNone)
		av, err := splitArgs(n, spec)
		if err != nil {
			return nil, err
		}
		if err := av.positional(n.name, "s"); err != nil {
			return nil, err
		}
		a.arg, a.copy = av.pos[0].strs[0], av.has("copy")
		if !c.req["variables"] && !validAddress(a.arg) {
			return nil, errAt(av.pos[0].pos, "redirect: %q is not a valid address", a.arg)
		}
		return a, nil
	case "reject", "ereject":
		if err := c.need(n.name, n.pos, n.name); err != nil {
			return nil, err
		}
		av, err := splitArgs(n, nil)
		if err != nil {
			return nil, err
		}
		if err := av.positional(n.name, "s"); err != nil {
			return nil, err
		}
		a.arg = av.pos[0].strs[0]
		return a, nil
	case "vacation":
		return c.vacation(n)
	case "set":
		return c.set(n)
	case "setflag", "addflag", "removeflag":
		if err := c.need("imap4flags", n.pos, n.name); err != nil {
			return nil, err
		}
		av, err := splitArgs(n, nil)
		if err != nil {
			return nil, err
		}
		// RFC 5232 §3: an optional variable name, then the flags.
		if len(av.pos) == 2 {
			if err := av.positional(n.name, "sl"); err != nil {
				return nil, err
			}
			if err := c.flagVariable(n, av.pos[0].pos); err != nil {
				return nil, err
			}
			a.arg, a.list = av.pos[0].strs[0], av.pos[1].strs
			return a, nil
		}
		if err := av.positional(n.name, "l"); err != nil {
			return nil, err
		}
		a.list = av.pos[0].strs
		return a, nil
	case "if", "elsif", "else", "require":
		return nil, errAt(n.pos, "%s is not allowed here", n.name)
	}
	return nil, errAt(n.pos, "unknown command %q", n.name)
}

// fileinto is RFC 5228 §4.1 with :copy (RFC 3894), :create (RFC 5490)
// and :flags (RFC 5232).
func (c *checker) fileinto(n *node) (*action, error) {
	if err := c.need("fileinto", n.pos, "fileinto"); err != nil {
		return nil, err
	}
	spec := map[string]tagParam{}
	c.optional(spec, "copy", "copy", pNone)
	c.optional(spec, "mailbox", "create", pNone)
	c.optional(spec, "imap4flags", "flags", pStrings)
	av, err := splitArgs(n, spec)
	if err != nil {
		return nil, err
	}
	if err := av.positional(n.name, "s"); err != nil {
		return nil, err
	}
	a := &action{kind: "fileinto", arg: av.pos[0].strs[0], copy: av.has("copy"), create: av.has("create")}
	a.flags, a.hasFlg = flagsArg(av)
	return a, nil
}

// flagVariable refuses a flag variable name without variables: RFC 5232
// §1 says it "MUST NOT be used and MUST cause an error".
func (c *checker) flagVariable(n *node, p Pos) error {
	if !c.req["variables"] {
		return errAt(p, "%s: a variable name needs require \"variables\"", n.name)
	}
	return nil
}

// optional adds a tag to spec when its extension is required.
func (c *checker) optional(spec map[string]tagParam, ext, tag string, p tagParam) {
	if c.req[ext] {
		spec[tag] = p
	}
}

func flagsArg(av *argv) ([]string, bool) {
	v, ok := av.tags["flags"]
	return v.strs, ok
}

// validAddress is a light check of a redirect address (RFC 5228 §4.2:
// an invalid address is an error at compile time when it is constant).
func validAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,;")
}

func (c *checker) vacation(n *node) (*action, error) {
	if err := c.need("vacation", n.pos, "vacation"); err != nil {
		return nil, err
	}
	av, err := splitArgs(n, map[string]tagParam{
		"days": pNumber, "subject": pString, "from": pString,
		"addresses": pStrings, "mime": pNone, "handle": pString,
	})
	if err != nil {
		return nil, err
	}
	if err := av.positional("vacation", "s"); err != nil {
		return nil, err
	}
	v := &vacationSpec{reason: av.pos[0].strs[0], mime: av.has("mime")}
	if d, ok := av.tags["days"]; ok {
		v.days, v.hasDays = d.num, true
	}
	v.subject, _ = av.str("subject")
	v.from, _ = av.str("from")
	v.handle, _ = av.str("handle")
	v.addresses = av.tags["addresses"].strs
	return &action{kind: "vacation", vac: v}, nil
}

// set is RFC 5229 §4.
func (c *checker) set(n *node) (*action, error) {
	if err := c.need("variables", n.pos, "set"); err != nil {
		return nil, err
	}
	av, err := splitArgs(n, map[string]tagParam{
		"lower": pNone, "upper": pNone, "lowerfirst": pNone, "upperfirst": pNone,
		"quotewildcard": pNone, "length": pNone,
	})
	if err != nil {
		return nil, err
	}
	if err := av.positional("set", "ss"); err != nil {
		return nil, err
	}
	name := av.pos[0].strs[0]
	if !validVarName(name) {
		return nil, errAt(av.pos[0].pos, "set: %q is not a valid variable name", name)
	}
	a := &action{kind: "set", arg: strings.ToLower(name), list: []string{av.pos[1].strs[0]}}
	// RFC 5229 §4.1: modifiers apply in order of precedence.
	for _, m := range []string{"lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "length"} {
		if av.has(m) {
			a.mods = append(a.mods, m)
		}
	}
	return a, nil
}

func validVarName(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentStart(s[i]) && !(s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

// matchTags are the tags of tests that compare strings.
func (c *checker) matchTags(spec map[string]tagParam) map[string]tagParam {
	spec["comparator"] = pString
	spec["is"], spec["contains"], spec["matches"] = pNone, pNone, pNone
	if c.req["relational"] {
		spec["count"], spec["value"] = pString, pString
	}
	return spec
}

func (c *checker) test(n *node) (*test, error) {
	t := &test{kind: n.name, pos: n.pos}
	switch n.name {
	case "true", "false":
		if len(n.args) > 0 || len(n.tests) > 0 {
			return nil, errAt(n.pos, "%s takes no arguments", n.name)
		}
		return t, nil
	case "not", "allof", "anyof":
		if len(n.args) > 0 {
			return nil, errAt(n.args[0].pos, "%s takes tests, not arguments", n.name)
		}
		if len(n.tests) == 0 || n.name == "not" && len(n.tests) != 1 {
			return nil, errAt(n.pos, "%s needs a test", n.name)
		}
		for _, s := range n.tests {
			st, err := c.test(s)
			if err != nil {
				return nil, err
			}
			t.sub = append(t.sub, st)
		}
		return t, nil
	case "exists":
		av, err := c.noTests(n, nil)
		if err != nil {
			return nil, err
		}
		if err := av.positional(n.name, "l"); err != nil {
			return nil, err
		}
		t.names = av.pos[0].strs
		return t, nil
	case "date", "currentdate":
		return c.checkDate(n, t)
	case "size":
		av, err := c.noTests(n, map[string]tagParam{"over": pNone, "under": pNone})
		if err != nil {
			return nil, err
		}
		if err := av.positional(n.name, "n"); err != nil {
			return nil, err
		}
		if !av.has("over") && !av.has("under") {
			return nil, errAt(n.pos, "size needs :over or :under")
		}
		t.over, t.limit = av.has("over"), av.pos[0].num
		return t, nil
	}
	return c.matchTest(n, t)
}

func (c *checker) noTests(n *node, spec map[string]tagParam) (*argv, error) {
	if len(n.tests) > 0 {
		return nil, errAt(n.tests[0].pos, "%s takes no nested test", n.name)
	}
	return splitArgs(n, spec)
}

// matchTest checks the tests that match keys against message strings.
func (c *checker) matchTest(n *node, t *test) (*test, error) {
	spec := c.matchTags(map[string]tagParam{})
	kinds := "ll"
	switch n.name {
	case "header":
	case "address", "envelope":
		if n.name == "envelope" {
			if err := c.need("envelope", n.pos, "envelope"); err != nil {
				return nil, err
			}
		}
		spec["all"], spec["localpart"], spec["domain"] = pNone, pNone, pNone
	case "body":
		if err := c.need("body", n.pos, "body"); err != nil {
			return nil, err
		}
		spec["raw"], spec["content"], spec["text"] = pNone, pStrings, pNone
		kinds = "l"
	case "string":
		if err := c.need("variables", n.pos, "string"); err != nil {
			return nil, err
		}
	case "hasflag":
		if err := c.need("imap4flags", n.pos, "hasflag"); err != nil {
			return nil, err
		}
		switch len(nonTags(n.args)) {
		case 1:
			kinds = "l"
		case 2:
			if err := c.flagVariable(n, n.pos); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errAt(n.pos, "unknown test %q", n.name)
	}
	av, err := c.noTests(n, spec)
	if err != nil {
		return nil, err
	}
	if err := av.positional(n.name, kinds); err != nil {
		return nil, err
	}
	if t.m, err = newMatcher(av); err != nil {
		return nil, err
	}
	t.part = "all"
	for _, p := range []string{"localpart", "domain"} {
		if av.has(p) {
			t.part = p
		}
	}
	if n.name == "body" {
		t.transform = "text"
		if av.has("raw") {
			t.transform = "raw"
		}
		if v, ok := av.tags["content"]; ok {
			t.transform, t.types = "content", v.strs
		}
		t.keys = av.pos[0].strs
		return t, nil
	}
	if len(av.pos) == 1 {
		t.keys = av.pos[0].strs
		return t, nil
	}
	// RFC 5228 §2.4.2.2: a syntactically invalid header name matches no
	// header, and "An implementation MUST NOT cause an error" for it.
	t.names, t.keys = av.pos[0].strs, av.pos[1].strs
	if n.name == "envelope" {
		// RFC 5228 §5.4: "implementations SHOULD consider unknown envelope
		// parts an error" (when the name is not made by variables).
		for _, p := range t.names {
			if lp := strings.ToLower(p); lp != "from" && lp != "to" && !strings.Contains(p, "${") {
				return nil, errAt(av.pos[0].pos, "envelope: unknown envelope part %q (known: from, to)", p)
			}
		}
	}
	return t, nil
}

func nonTags(args []arg) []arg {
	var out []arg
	for i := 0; i < len(args); i++ {
		if args[i].kind == argTag {
			if args[i].tag == "comparator" || args[i].tag == "count" || args[i].tag == "value" {
				i++
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}
