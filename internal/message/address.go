package message

import (
	"strings"
)

// MissingHost is the host of an address that has none (e.g. "root" from a
// cron job), following the c-client convention, because an empty host
// would mark a group in the IMAP envelope (RFC 9051 §7.5.2).
const MissingHost = ".MISSING-HOST-NAME."

// maxAddresses caps the addresses kept per header field.
const maxAddresses = 1000

// maxAddrTokens caps the tokens looked at per header field.
const maxAddrTokens = 20000

type tokKind uint8

const (
	tAtom    tokKind = iota // atom or dot-atom, also obs-phrase text
	tQuoted                 // quoted-string; text is the unescaped content
	tLiteral                // domain-literal, text includes the brackets
	tSpecial                // one of < > @ , : ;
)

type token struct {
	kind    tokKind
	text    string
	comment string // the last comment just before this token
}

// lexAddresses splits a header value into RFC 5322 §3.2 lexical tokens,
// dropping whitespace and keeping comments beside the token that follows.
// Trailing comments get a final empty special token.
func lexAddresses(s string) []token {
	// "Name <local@domain>" is 6 tokens: one allocation rather than the
	// four of growing from nothing.
	toks := make([]token, 0, 8)
	var comment string
	for i := 0; i < len(s) && len(toks) < maxAddrTokens; {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			var text string
			text, i = lexComment(s, i)
			if t := strings.TrimSpace(text); t != "" {
				comment = t
			}
		case c == '"':
			text, rest := quotedString(s[i:])
			i = len(s) - len(rest)
			toks = append(toks, token{kind: tQuoted, text: text, comment: comment})
			comment = ""
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, token{kind: tLiteral, text: s[i : i+j+1], comment: comment})
			comment = ""
			i += j + 1
		case strings.IndexByte("<>@,:;", c) >= 0:
			toks = append(toks, token{kind: tSpecial, text: s[i : i+1], comment: comment})
			comment = ""
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()\"[<>@,:;", s[j]) < 0 {
				j++
			}
			toks = append(toks, token{kind: tAtom, text: s[i:j], comment: comment})
			comment = ""
			i = j
		}
	}
	if comment != "" {
		toks = append(toks, token{kind: tSpecial, text: "", comment: comment})
	}
	return toks
}

// lexComment reads a (possibly nested) comment starting at s[i] == '('.
func lexComment(s string, i int) (string, int) {
	var b strings.Builder
	depth := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '(':
			if depth > 0 {
				b.WriteByte(c)
			}
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return b.String(), i + 1
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), i
}

// ParseAddressList parses an address-list header value (RFC 5322 §3.4)
// into IMAP envelope addresses: groups become start and end markers,
// obsolete routes (RFC 5322 §4.4) go to Adl, a comment stands in for a
// missing display name, and garbage is skipped or kept as a bare mailbox
// rather than failing. Display names are raw (encoded-words kept).
func ParseAddressList(s string) []Address {
	if s == "" {
		return nil // the absent fields (Sender, Reply-To, Cc, ...): no tokens to make room for
	}
	if len(s) > maxFieldValue {
		s = s[:maxFieldValue]
	}
	p := addrParser{toks: lexAddresses(s)}
	p.list(false)
	return p.out
}

type addrParser struct {
	toks []token
	pos  int
	out  []Address
}

func (p *addrParser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *addrParser) isSpecial(i int, s string) bool {
	return i < len(p.toks) && p.toks[i].kind == tSpecial && p.toks[i].text == s
}

func (p *addrParser) add(a Address) {
	if len(p.out) < maxAddresses {
		p.out = append(p.out, a)
	}
}

// list parses items up to the end, or up to ";" inside a group.
func (p *addrParser) list(inGroup bool) {
	for p.pos < len(p.toks) {
		if p.isSpecial(p.pos, ",") {
			p.pos++
			continue
		}
		if inGroup && p.isSpecial(p.pos, ";") {
			return
		}
		start := p.pos
		p.item(inGroup)
		if p.pos == start {
			p.pos++ // stray token: skip it
		}
	}
}

// item parses one mailbox or group, deciding by the first special that
// follows: ":" starts a group, "<" an angle address, else an addr-spec.
func (p *addrParser) item(inGroup bool) {
	for i := p.pos; i < len(p.toks); i++ {
		t := p.toks[i]
		if t.kind != tSpecial {
			continue
		}
		switch t.text {
		case ":":
			if !inGroup {
				p.group(i)
				return
			}
		case "<":
			p.angle(i)
			return
		case ",", ";", ">":
			p.addrSpec(i)
			return
		}
	}
	p.addrSpec(len(p.toks))
}

// group parses "name: members;" with the ":" at index colon.
func (p *addrParser) group(colon int) {
	name := phrase(p.toks[p.pos:colon])
	p.pos = colon + 1
	if name != "" {
		p.add(Address{Mailbox: name})
	}
	p.list(true)
	if p.isSpecial(p.pos, ";") {
		p.pos++
	}
	if name != "" {
		p.add(Address{})
	}
}

// angle parses "[phrase] <[route:]addr-spec>" with the "<" at index lt.
func (p *addrParser) angle(lt int) {
	name := phrase(p.toks[p.pos:lt])
	var comment string
	if name == "" && lt < len(p.toks) {
		comment = p.toks[lt].comment
	}
	p.pos = lt + 1
	// RFC 5322 §4.4 obs-route: "@a,@b:" before the address.
	var adl string
	if p.isSpecial(p.pos, "@") {
		for j := p.pos; j < len(p.toks); j++ {
			if p.isSpecial(j, ":") {
				adl = render(p.toks[p.pos:j])
				p.pos = j + 1
				break
			}
			if p.isSpecial(j, ">") || p.isSpecial(j, ",") && !p.isSpecial(j+1, "@") {
				break
			}
		}
	}
	end := p.pos
	for end < len(p.toks) && !p.isSpecial(end, ">") {
		end++
	}
	a, ok := addrSpec(p.toks[p.pos:end])
	p.pos = end
	if p.isSpecial(p.pos, ">") {
		p.pos++
		if t, ok := p.peek(); ok && t.comment != "" && name == "" && comment == "" {
			comment = t.comment
		}
	}
	if name == "" {
		name = comment
	}
	if !ok {
		if name == "" {
			return // "<>": nothing to keep
		}
		a.Host = MissingHost // "Name <>": an empty host would mark a group
	}
	a.Name, a.Adl = name, adl
	p.add(a)
}

// addrSpec parses a bare addr-spec ending before index end.
func (p *addrParser) addrSpec(end int) {
	toks := p.toks[p.pos:end]
	p.pos = end
	if end < len(p.toks) && p.toks[end].text == ">" {
		p.pos++
	}
	var name string
	// Garbage tolerance: "Name user@host" — words before the local part
	// become the display name.
	if at := indexSpecial(toks, "@"); at > 1 {
		name = phrase(toks[:at-1])
		toks = toks[at-1:]
	}
	a, ok := addrSpec(toks)
	if !ok {
		return
	}
	if name == "" {
		// "user@host (Name)": the comment is the display name.
		for _, t := range toks[1:] {
			if t.comment != "" {
				name = t.comment
			}
		}
		if end < len(p.toks) && p.toks[end].comment != "" {
			name = p.toks[end].comment
		}
	}
	a.Name = name
	p.add(a)
}

func indexSpecial(toks []token, s string) int {
	for i, t := range toks {
		if t.kind == tSpecial && t.text == s {
			return i
		}
	}
	return -1
}

// addrSpec builds mailbox and host from "local@domain" tokens; a missing
// domain becomes MissingHost. It reports false when there is nothing.
func addrSpec(toks []token) (Address, bool) {
	at := indexSpecial(toks, "@")
	localToks, domToks := toks, []token(nil)
	if at >= 0 {
		localToks, domToks = toks[:at], toks[at+1:]
	}
	local := localPart(localToks)
	var host string
	for _, t := range domToks {
		if t.kind == tSpecial {
			if t.text == "@" {
				continue
			}
			break
		}
		host += t.text
	}
	if local == "" && host == "" {
		return Address{}, false
	}
	if host == "" {
		host = MissingHost
	}
	return Address{Mailbox: local, Host: host}, true
}

// localPart renders a local part: a lone quoted string is unquoted when it
// is a dot-atom and re-quoted otherwise, so that mailbox@host stays valid.
func localPart(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind == tSpecial {
			continue
		}
		if t.kind == tQuoted {
			if isDotAtom(t.text) {
				b.WriteString(t.text)
			} else {
				b.WriteString(quote(t.text))
			}
			continue
		}
		b.WriteString(t.text)
	}
	return b.String()
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (c <= ' ' || strings.IndexByte("()<>[]:;@\\,\"", c) >= 0) {
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// phrase renders display-name tokens: words joined by one space, quoted
// strings unquoted (RFC 5322 §3.2.5), stray specials kept as text.
func phrase(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// render joins tokens without spaces (for routes).
func render(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.text)
	}
	return b.String()
}

// FormatAddresses renders addresses for search and SORT as
// "Name <mailbox@host>, ..." with names RFC 2047 decoded; groups render as
// "Group: member, ...;".
func FormatAddresses(list []Address) string {
	var b strings.Builder
	afterGroupStart := false
	for _, a := range list {
		switch {
		case a.Host == "" && a.Mailbox != "":
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(DecodeHeader(a.Mailbox))
			b.WriteString(":")
			afterGroupStart = true
			continue
		case a.Host == "":
			b.WriteString(";")
			afterGroupStart = false
			continue
		}
		if afterGroupStart {
			b.WriteByte(' ')
		} else if b.Len() > 0 {
			b.WriteString(", ")
		}
		afterGroupStart = false
		addr := a.Mailbox
		if a.Host != MissingHost {
			addr += "@" + a.Host
		}
		if a.Name != "" {
			b.WriteString(DecodeHeader(a.Name))
			b.WriteString(" <")
			b.WriteString(addr)
			b.WriteString(">")
		} else {
			b.WriteString(addr)
		}
	}
	return b.String()
}
