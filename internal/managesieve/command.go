package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of the command reader.
const (
	maxLine    = 8 << 10 // a command line, literals excluded
	maxArgs    = 8
	maxLiteral = 512 << 10 // above sieve.MaxScriptSize, so that PUTSCRIPT says "too large" itself
)

// Command is one client command (RFC 5804 §4): its name and its
// arguments, strings (quoted or literal) and numbers, as text.
type Command struct {
	Name string // upper-case
	Args []string
}

// errSyntax is a malformed command; the session answers NO and goes on.
type errSyntax struct{ msg string }

func (e *errSyntax) Error() string { return e.msg }

// errLineTooLong ends the session: the rest of the line cannot be found.
var errLineTooLong = errors.New("managesieve: command line too long")

// ReadCommand reads one command from r: an atom, then strings (quoted,
// RFC 5804 §4 "quoted", or literals "{n+}" / "{n}" CRLF and n octets)
// and numbers, up to CRLF. A syntax error is reported after the whole
// line was consumed, so that the session can answer and go on.
func ReadCommand(r *bufio.Reader) (Command, error) {
	var cmd Command
	p := &lineReader{r: r}
	if err := p.fill(); err != nil {
		return cmd, err
	}
	name := p.atom()
	if name == "" {
		return cmd, p.syntax("expected a command name")
	}
	cmd.Name = strings.ToUpper(name)
	for {
		p.skipSpaces()
		if p.atEnd() {
			return cmd, nil
		}
		if len(cmd.Args) >= maxArgs {
			return cmd, p.syntax("too many arguments")
		}
		var (
			s   string
			err error
		)
		switch c := p.line[p.i]; {
		case c == '"':
			s, err = p.quoted()
		case c == '{':
			s, err = p.literal()
		case c >= '0' && c <= '9':
			s = p.number()
		default:
			return cmd, p.syntax(fmt.Sprintf("unexpected %q: expected a string or a number", rune(c)))
		}
		if err != nil {
			return cmd, err
		}
		cmd.Args = append(cmd.Args, s)
	}
}

// lineReader reads one line at a time, and literals between lines.
type lineReader struct {
	r    *bufio.Reader
	line string
	i    int
}

func (p *lineReader) fill() error {
	var b []byte
	for {
		chunk, err := p.r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		break
	}
	p.line = strings.TrimRight(string(b), "\r\n")
	p.i = 0
	return nil
}

func (p *lineReader) atEnd() bool { return p.i >= len(p.line) }

// syntax returns a syntax error after consuming the rest of the command:
// a line that ends with a literal announces octets and another line,
// which must not be read as commands.
func (p *lineReader) syntax(msg string) error {
	for {
		n, ok := trailingLiteral(p.line)
		if !ok {
			return &errSyntax{msg}
		}
		if n > maxLiteral {
			return fmt.Errorf("managesieve: literal of %d octets exceeds %d", n, maxLiteral)
		}
		if _, err := io.CopyN(io.Discard, p.r, int64(n)); err != nil {
			return err
		}
		if err := p.fill(); err != nil {
			return err
		}
	}
}

// trailingLiteral finds "{n+}" or "{n}" at the end of a line.
func trailingLiteral(line string) (int, bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[i+1:len(line)-1], "+"))
	return n, err == nil && n >= 0
}

func (p *lineReader) skipSpaces() {
	for p.i < len(p.line) && p.line[p.i] == ' ' {
		p.i++
	}
}

func (p *lineReader) atom() string {
	start := p.i
	for p.i < len(p.line) {
		c := p.line[p.i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			break
		}
		p.i++
	}
	return p.line[start:p.i]
}

func (p *lineReader) number() string {
	start := p.i
	for p.i < len(p.line) && p.line[p.i] >= '0' && p.line[p.i] <= '9' {
		p.i++
	}
	return p.line[start:p.i]
}

// quoted reads a quoted string: backslash quotes '"' and '\' (RFC 5804
// §4 QUOTED-SPECIALS); CR and LF cannot appear.
func (p *lineReader) quoted() (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.line) {
		c := p.line[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\\':
			if p.i+1 >= len(p.line) || (p.line[p.i+1] != '"' && p.line[p.i+1] != '\\') {
				return "", p.syntax(`bad escape in quoted string: only \" and \\`)
			}
			b.WriteByte(p.line[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", p.syntax("unterminated quoted string")
}

// literal reads "{n+}" or "{n}" at the end of the line, then n octets;
// the command goes on on the line that follows them.
func (p *lineReader) literal() (string, error) {
	end := strings.IndexByte(p.line[p.i:], '}')
	if end < 0 || p.i+end != len(p.line)-1 {
		return "", p.syntax("a literal must end the line: {n+}")
	}
	spec := strings.TrimSuffix(p.line[p.i+1:p.i+end], "+")
	n, err := strconv.Atoi(spec)
	if err != nil || n < 0 {
		return "", p.syntax("bad literal length")
	}
	if n > maxLiteral {
		// The octets cannot be skipped safely in bounded time; end the
		// session rather than read them as commands.
		return "", fmt.Errorf("managesieve: literal of %d octets exceeds %d", n, maxLiteral)
	}
	// Grown as the octets arrive: a client that announces a large
	// literal and sends nothing holds no large buffer.
	var buf strings.Builder
	if _, err := io.CopyN(&buf, p.r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	if err := p.fill(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// quote renders s as a quoted string, or as a literal when it holds CR,
// LF, NUL or is long (RFC 5804 §4: servers send "{n}" literals).
func quote(s string) string {
	if len(s) > 1024 || strings.ContainsAny(s, "\r\n\x00") {
		return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
