package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// respReader is a strict reader of server responses for the stress test:
// every response must parse completely, from its first byte to its CRLF,
// literals must have exactly the announced length, and a tagged response
// must begin at the start of a line. It is a recursive-descent reader over
// the byte stream, so a literal is consumed by its length and never
// mistaken for protocol text.
type respReader struct {
	r   *bufio.Reader
	raw bytes.Buffer // the bytes of the current response, for diagnostics
}

// response is one parsed server response.
type response struct {
	tag   string // "*", "+" or the command tag
	num   uint32 // n of "* n EXISTS", "* n FETCH", ...
	kind  string // EXISTS, EXPUNGE, FETCH, OK, NO, SEARCH, VANISHED, ...
	code  string // response code of a status response, without brackets
	text  string
	fetch []fetchAttr // FETCH items in order
	vals  []any       // the other data: atoms (string) and lists ([]any)
	raw   string
}

type fetchAttr struct {
	name string
	val  any // string (atom, quoted, literal) or []any
}

var errParse = errors.New("malformed response")

// maxTestLiteral bounds a literal the reader accepts (the test messages
// are small; a wild length is a broken stream, not a reason to allocate).
const maxTestLiteral = 16 << 20

func (p *respReader) fail(format string, a ...any) error {
	return fmt.Errorf("%w: %s (so far %q)", errParse, fmt.Sprintf(format, a...), clip(p.raw.String()))
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:150] + " … " + s[len(s)-150:]
	}
	return s
}

func (p *respReader) next() (byte, error) {
	b, err := p.r.ReadByte()
	if err != nil {
		return 0, err
	}
	p.raw.WriteByte(b)
	return b, nil
}

func (p *respReader) peek() (byte, error) {
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (p *respReader) expect(s string) error {
	for i := 0; i < len(s); i++ {
		b, err := p.next()
		if err != nil {
			return err
		}
		if b != s[i] {
			return p.fail("expected %q, got %q", s[i], b)
		}
	}
	return nil
}

// atom reads one or more characters up to a delimiter. Flags (\Seen, \*)
// and sequence sets (1:3,7) are atoms here.
func (p *respReader) atom() (string, error) {
	var b strings.Builder
	for {
		c, err := p.peek()
		if err != nil {
			return "", err
		}
		if c == ' ' || c == '(' || c == ')' || c == '\r' || c == '\n' || c == '[' || c == ']' || c == '"' || c == '{' || c < ' ' || c == 0x7f {
			break
		}
		p.next()
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		c, _ := p.peek()
		return "", p.fail("empty atom before %q", c)
	}
	return b.String(), nil
}

// value reads an atom, a quoted string, a literal (or literal8) or a
// parenthesised list.
func (p *respReader) value() (any, error) {
	c, err := p.peek()
	if err != nil {
		return nil, err
	}
	switch c {
	case '(':
		p.next()
		var list []any
		if c, err := p.peek(); err != nil {
			return nil, err
		} else if c == ')' {
			p.next()
			return list, nil
		}
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			if _, isList := v.([]any); isList {
				// body-type-mpart: the parts follow each other
				// without SP (RFC 9051 §9).
				if c, _ := p.peek(); c == '(' {
					continue
				}
			}
			c, err := p.next()
			if err != nil {
				return nil, err
			}
			if c == ')' {
				return list, nil
			}
			if c != ' ' {
				return nil, p.fail("list: expected SP or ')', got %q", c)
			}
		}
	case '"':
		p.next()
		var b strings.Builder
		for {
			c, err := p.next()
			if err != nil {
				return nil, err
			}
			switch c {
			case '"':
				return b.String(), nil
			case '\\':
				e, err := p.next()
				if err != nil {
					return nil, err
				}
				if e != '"' && e != '\\' {
					return nil, p.fail("bad quoted escape %q", e)
				}
				b.WriteByte(e)
			case '\r', '\n', 0:
				return nil, p.fail("CR, LF or NUL in quoted string")
			default:
				b.WriteByte(c)
			}
		}
	case '~':
		p.next()
		if c, _ := p.peek(); c != '{' {
			return nil, p.fail("'~' without literal")
		}
		return p.value()
	case '{':
		p.next()
		var n strings.Builder
		for {
			c, err := p.next()
			if err != nil {
				return nil, err
			}
			if c == '}' {
				break
			}
			if c < '0' || c > '9' {
				return nil, p.fail("bad literal length char %q", c)
			}
			n.WriteByte(c)
		}
		size, err := strconv.Atoi(n.String())
		if err != nil || size > maxTestLiteral {
			return nil, p.fail("literal length %q", n.String())
		}
		if err := p.expect("\r\n"); err != nil {
			return nil, err
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(p.r, buf); err != nil {
			return nil, err
		}
		p.raw.Write(buf)
		return string(buf), nil
	}
	return p.atom()
}

// crlf ends a response.
func (p *respReader) crlf() error { return p.expect("\r\n") }

// text reads a response text up to CRLF; CR, LF or NUL inside it are
// errors.
func (p *respReader) text() (string, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		switch c {
		case '\r':
			if n, err := p.next(); err != nil {
				return "", err
			} else if n != '\n' {
				return "", p.fail("CR without LF in text")
			}
			return b.String(), nil
		case '\n', 0:
			return "", p.fail("bare LF or NUL in text")
		}
		b.WriteByte(c)
	}
}

// statusText reads "[code] text" of OK, NO, BAD, BYE, PREAUTH.
func (p *respReader) statusText(r *response) error {
	c, err := p.peek()
	if err != nil {
		return err
	}
	if c == '\r' {
		return p.crlf() // some servers omit the text; accepted
	}
	if err := p.expect(" "); err != nil {
		return err
	}
	if c, _ := p.peek(); c == '[' {
		p.next()
		var b strings.Builder
		for {
			c, err := p.next()
			if err != nil {
				return err
			}
			if c == ']' {
				break
			}
			if c == '\r' || c == '\n' {
				return p.fail("unterminated response code")
			}
			b.WriteByte(c)
		}
		r.code = b.String()
		if c, _ := p.peek(); c == ' ' {
			p.next()
		}
	}
	r.text, err = p.text()
	return err
}

// fetchItems reads the parenthesised list of a FETCH response.
func (p *respReader) fetchItems(r *response) error {
	if err := p.expect("("); err != nil {
		return err
	}
	for {
		name, err := p.atom()
		if err != nil {
			return err
		}
		if c, _ := p.peek(); c == '[' {
			// BODY[section]<origin>: the section may hold spaces and a
			// parenthesised field list, never ']'.
			var b strings.Builder
			for {
				c, err := p.next()
				if err != nil {
					return err
				}
				b.WriteByte(c)
				if c == ']' {
					break
				}
				if c == '\r' || c == '\n' {
					return p.fail("unterminated section")
				}
			}
			name += b.String()
			if c, _ := p.peek(); c == '<' {
				rest, err := p.atom()
				if err != nil {
					return err
				}
				name += rest
			}
		}
		if err := p.expect(" "); err != nil {
			return err
		}
		v, err := p.value()
		if err != nil {
			return err
		}
		r.fetch = append(r.fetch, fetchAttr{name: strings.ToUpper(name), val: v})
		c, err := p.next()
		if err != nil {
			return err
		}
		if c == ')' {
			return p.crlf()
		}
		if c != ' ' {
			return p.fail("FETCH: expected SP or ')', got %q", c)
		}
	}
}

// restValues reads SP-separated values up to CRLF.
func (p *respReader) restValues(r *response) error {
	for {
		c, err := p.peek()
		if err != nil {
			return err
		}
		if c == '\r' {
			return p.crlf()
		}
		if err := p.expect(" "); err != nil {
			return err
		}
		v, err := p.value()
		if err != nil {
			return err
		}
		r.vals = append(r.vals, v)
	}
}

// read reads and checks one complete response.
func (p *respReader) read() (*response, error) {
	p.raw.Reset()
	r := &response{}
	defer func() { r.raw = p.raw.String() }()
	c, err := p.peek()
	if err != nil {
		return nil, err
	}
	if c == '+' {
		p.next()
		r.tag = "+"
		_, err := p.text()
		return r, err
	}
	tag, err := p.atom()
	if err != nil {
		return nil, err
	}
	r.tag = tag
	if err := p.expect(" "); err != nil {
		return nil, err
	}
	word, err := p.atom()
	if err != nil {
		return nil, err
	}
	if tag != "*" {
		r.kind = strings.ToUpper(word)
		if r.kind != "OK" && r.kind != "NO" && r.kind != "BAD" {
			return nil, p.fail("tagged response %q", word)
		}
		return r, p.statusText(r)
	}
	if n, err := strconv.ParseUint(word, 10, 32); err == nil {
		r.num = uint32(n)
		if err := p.expect(" "); err != nil {
			return nil, err
		}
		if r.kind, err = p.atom(); err != nil {
			return nil, err
		}
		switch r.kind {
		case "EXISTS", "EXPUNGE", "RECENT":
			return r, p.crlf()
		case "FETCH":
			if err := p.expect(" "); err != nil {
				return nil, err
			}
			return r, p.fetchItems(r)
		}
		return nil, p.fail("unknown numbered response %q", r.kind)
	}
	r.kind = strings.ToUpper(word)
	switch r.kind {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return r, p.statusText(r)
	}
	return r, p.restValues(r)
}

// FuzzRespReader: the stress test's reader never panics or hangs on any
// byte stream; it returns responses or an error.
func FuzzRespReader(f *testing.F) {
	for _, s := range []string{
		"* 1 FETCH (UID 1 BODY[] {5}\r\nhello FLAGS (\\Seen))\r\n",
		"* 2 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7BIT\" 1 1)(\"text\" \"html\" NIL NIL NIL \"7BIT\" 1 1) \"alternative\"))\r\n",
		"* OK [COPYUID 1 1:3 4:6] moved\r\nt1 OK done\r\n",
		"* VANISHED 1:3,5\r\n* SEARCH 1 2 (MODSEQ 4)\r\n+ idling\r\n",
		"* 13 FETCH (UID 13 t5 NO [NONEXISTENT] gone\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &respReader{r: bufio.NewReader(bytes.NewReader(data))}
		for range 1000 {
			if _, err := p.read(); err != nil {
				return
			}
		}
	})
}
