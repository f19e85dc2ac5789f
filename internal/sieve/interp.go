package sieve

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Runtime limits (defaults of Options' zero fields).
const (
	DefaultMaxSteps     = 200000
	DefaultMaxRedirects = 4
	// maxVarLen bounds a variable's value (RFC 5229 §5 allows a limit).
	maxVarLen = 64 << 10
	maxVars   = 256
)

var errTooManySteps = errors.New("sieve: script ran too long (step limit)")

// RuntimeError is a script that failed while it ran: delivery then files
// the message into INBOX and tells the user.
type RuntimeError struct {
	Pos
	Msg string
}

func (e *RuntimeError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Options bound a run.
type Options struct {
	MaxSteps     int
	MaxRedirects int
}

// FileInto is a fileinto action (or keep, Mailbox "INBOX").
type FileInto struct {
	Mailbox string
	Create  bool     // RFC 5490 §3 :create
	Flags   []string // IMAP flags to set (RFC 5232), nil for none
}

// Vacation is a vacation action to consider (RFC 5230 §4): delivery
// decides whether to answer (vacation.go) and sends the reply.
type Vacation struct {
	Days      int // 0: the default
	Subject   string
	From      string
	Addresses []string
	Mime      bool
	Handle    string
	Reason    string
	// track names the response when there is no :handle: its arguments
	// before variable expansion (RFC 5230 §4.2).
	track string
}

// Result is what a script decided for one message.
type Result struct {
	// Keep is true for an explicit or implicit keep (RFC 5228 §2.10.2);
	// KeepFlags are the flags it stores the message with.
	Keep      bool
	KeepFlags []string
	FileInto  []FileInto
	Redirects []string
	// Reject is the reason of reject or ereject (RFC 5429); Rejected says
	// one ran, Ereject which.
	Rejected bool
	Ereject  bool
	Reject   string
	Vacation *Vacation
}

// run is the state of one script run.
type run struct {
	msg      *Message
	opt      Options
	b        budget
	req      map[string]bool
	vars     map[string]string
	caps     []string // match variables ${0}..${9}
	flags    []string // the internal flag variable (RFC 5232 §3)
	res      Result
	cancel   bool // implicit keep cancelled
	stopped  bool
	keepDone bool
}

// Run runs the script against msg and returns its decisions. An error is
// a *RuntimeError (or the step limit).
func (s *Script) Run(msg *Message, opt Options) (*Result, error) {
	if opt.MaxSteps <= 0 {
		opt.MaxSteps = DefaultMaxSteps
	}
	if opt.MaxRedirects <= 0 {
		opt.MaxRedirects = DefaultMaxRedirects
	}
	r := &run{msg: msg, opt: opt, b: budget{left: opt.MaxSteps}, req: s.requires, vars: map[string]string{}}
	if err := r.block(s.cmds); err != nil {
		if errors.Is(err, errTooManySteps) {
			return nil, &RuntimeError{Msg: err.Error()}
		}
		return nil, err
	}
	if !r.cancel && !r.keepDone {
		r.res.Keep, r.res.KeepFlags = true, slices.Clone(r.flags)
	}
	if r.res.Rejected && (r.res.Keep && r.keepDone || len(r.res.FileInto) > 0 || len(r.res.Redirects) > 0 || r.res.Vacation != nil) {
		// RFC 5429 §2.1 and RFC 5230 §4.7: reject does not go with
		// vacation, and we refuse it beside delivering actions too.
		return nil, &RuntimeError{Msg: "reject cannot be combined with keep, fileinto, redirect or vacation"}
	}
	return &r.res, nil
}

func (r *run) block(cmds []*command) error {
	for _, c := range cmds {
		if r.stopped {
			return nil
		}
		if err := r.b.spend(1); err != nil {
			return err
		}
		if c.ifc != nil {
			if err := r.ifCmd(c.ifc); err != nil {
				return err
			}
			continue
		}
		if err := r.action(c); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) ifCmd(ic *ifCmd) error {
	for i, t := range ic.conds {
		ok, err := r.test(t)
		if err != nil {
			return err
		}
		if ok {
			return r.block(ic.bodies[i])
		}
	}
	return r.block(ic.els)
}

func (r *run) action(c *command) error {
	a := c.act
	switch a.kind {
	case "stop":
		r.stopped = true
	case "keep":
		r.keepDone = true
		r.res.Keep = true
		r.res.KeepFlags = r.flagsFor(a)
	case "discard":
		r.cancel = true
	case "fileinto":
		mb := r.expand(a.arg)
		if mb == "" {
			return &RuntimeError{Pos: c.pos, Msg: "fileinto: empty mailbox name"}
		}
		if !a.copy {
			r.cancel = true
		}
		r.addFileInto(FileInto{Mailbox: mb, Create: a.create, Flags: r.flagsFor(a)})
	case "redirect":
		addr := r.expand(a.arg)
		if !validAddress(addr) {
			return &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("redirect: %q is not a valid address", addr)}
		}
		if !a.copy {
			r.cancel = true
		}
		if !slices.ContainsFunc(r.res.Redirects, func(x string) bool { return strings.EqualFold(x, addr) }) {
			if len(r.res.Redirects) >= r.opt.MaxRedirects {
				return &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("more than %d redirects", r.opt.MaxRedirects)}
			}
			r.res.Redirects = append(r.res.Redirects, addr)
		}
	case "reject", "ereject":
		if r.res.Rejected {
			return &RuntimeError{Pos: c.pos, Msg: "more than one reject"}
		}
		r.cancel = true
		r.res.Rejected, r.res.Ereject, r.res.Reject = true, a.kind == "ereject", r.expand(a.arg)
	case "vacation":
		if r.res.Vacation != nil {
			return &RuntimeError{Pos: c.pos, Msg: "more than one vacation"} // RFC 5230 §4.7
		}
		r.res.Vacation = r.vacation(a.vac)
	case "set":
		return r.set(c)
	case "setflag", "addflag", "removeflag":
		r.flagAction(a)
	}
	return nil
}

// flagsFor is the flags a keep or fileinto stores with: its :flags, or
// the internal variable (RFC 5232 §5).
func (r *run) flagsFor(a *action) []string {
	if a.hasFlg {
		return parseFlags(r.expandList(a.flags))
	}
	if r.req["imap4flags"] {
		return slices.Clone(r.flags)
	}
	return nil
}

// addFileInto merges fileinto actions on one mailbox (RFC 5228 §2.10.3).
func (r *run) addFileInto(f FileInto) {
	for i := range r.res.FileInto {
		if r.res.FileInto[i].Mailbox == f.Mailbox {
			r.res.FileInto[i].Create = r.res.FileInto[i].Create || f.Create
			r.res.FileInto[i].Flags = f.Flags
			return
		}
	}
	r.res.FileInto = append(r.res.FileInto, f)
}

func (r *run) vacation(v *vacationSpec) *Vacation {
	out := &Vacation{Subject: r.expand(v.subject), From: r.expand(v.from), Mime: v.mime,
		Handle: r.expand(v.handle), Reason: r.expand(v.reason), Addresses: r.expandList(v.addresses),
		track: responseID(v.subject, v.from, v.reason, v.mime)}
	if v.hasDays {
		// RFC 5230 §4.1: less than the minimum (1) is the minimum.
		out.Days = int(max(1, min(v.days, 1<<20)))
	}
	return out
}

// set is RFC 5229 §4.
func (r *run) set(c *command) error {
	a := c.act
	v := r.expand(a.list[0])
	for _, m := range a.mods {
		switch m {
		case "lower":
			v = strings.ToLower(v)
		case "upper":
			v = strings.ToUpper(v)
		case "lowerfirst":
			v = firstCase(v, strings.ToLower)
		case "upperfirst":
			v = firstCase(v, strings.ToUpper)
		case "quotewildcard":
			v = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(v)
		case "length":
			v = strconv.Itoa(len([]rune(v)))
		}
	}
	if _, ok := r.vars[a.arg]; !ok && len(r.vars) >= maxVars {
		return &RuntimeError{Pos: c.pos, Msg: "too many variables"}
	}
	r.vars[a.arg] = truncate(v)
	return nil
}

func firstCase(s string, f func(string) string) string {
	for i := range s {
		if i > 0 {
			return f(s[:i]) + s[i:]
		}
	}
	return f(s)
}

func truncate(s string) string {
	if len(s) > maxVarLen {
		return strings.ToValidUTF8(s[:maxVarLen], "")
	}
	return s
}

// flagAction is setflag, addflag and removeflag (RFC 5232 §3).
func (r *run) flagAction(a *action) {
	cur := r.flags
	if a.arg != "" {
		cur = parseFlags([]string{r.vars[strings.ToLower(a.arg)]})
	}
	list := parseFlags(r.expandList(a.list))
	switch a.kind {
	case "setflag":
		cur = list
	case "addflag":
		for _, f := range list {
			if !containsFold(cur, f) {
				cur = append(cur, f)
			}
		}
	case "removeflag":
		cur = slices.DeleteFunc(slices.Clone(cur), func(f string) bool { return containsFold(list, f) })
	}
	if a.arg != "" {
		r.vars[strings.ToLower(a.arg)] = truncate(strings.Join(cur, " "))
		return
	}
	r.flags = cur
}

// parseFlags splits flag strings on spaces and drops duplicates (RFC 5232
// §3: a string may hold several flags).
func parseFlags(list []string) []string {
	var out []string
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			if !containsFold(out, f) && len(out) < 64 {
				out = append(out, f)
			}
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// expand replaces ${name} and ${N} when the script requires variables
// (RFC 5229 §3). An unknown variable is the empty string; text that is not
// a variable reference stays as it is.
func (r *run) expand(s string) string {
	if !r.req["variables"] || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		// A name holds letters, digits, "_" and "." only (RFC 5229 §3), so
		// scanning it never passes another "${": the expansion is linear.
		j := 2
		for j < len(s[i:]) && isNameChar(s[i+j]) {
			j++
		}
		if i+j >= len(s) || s[i+j] != '}' {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		name := s[i+2 : i+j]
		val, ok := r.lookup(name)
		if !ok {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = s[i+j+1:]
		if b.Len() > maxVarLen {
			break
		}
	}
	return truncate(b.String())
}

func isNameChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '.' }

// lookup resolves a variable name; ok is false when name is not one.
func (r *run) lookup(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if name[0] >= '0' && name[0] <= '9' {
		n, err := strconv.Atoi(name)
		if err != nil {
			return "", false
		}
		if n < len(r.caps) && n < 10 {
			return r.caps[n], true
		}
		return "", true
	}
	if !validVarName(name) {
		return "", false // namespaced names (e.g. "env.x") are not supported: left as text
	}
	return r.vars[strings.ToLower(name)], true
}

func (r *run) expandList(list []string) []string {
	if !r.req["variables"] {
		return list
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = r.expand(s)
	}
	return out
}
