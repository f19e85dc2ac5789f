package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Default limits of a Reader.
const (
	DefaultMaxLine    = 64 * 1024        // octets of one command, literals of strings included
	DefaultMaxLiteral = 64 * 1024 * 1024 // octets of an APPEND message
	// nonSyncLimit is the largest non-synchronising literal accepted under
	// LITERAL- (RFC 7888 §5); with LITERAL+ the message limit applies.
	nonSyncLimit = 4096
)

// ParseError is a command the parser rejected. The server answers it with
// a tagged BAD (or NO when Code is "TOOBIG") or, when Fatal, with BYE and
// closes the connection, since the stream can no longer be followed.
type ParseError struct {
	Tag   string // "" if the tag was not read
	Code  string // response code, e.g. "TOOBIG", or ""
	Msg   string
	Fatal bool
}

func (e *ParseError) Error() string { return "imap: " + e.Msg }

// errLineTooLong and friends are the fatal framing errors.
var errLineTooLong = errors.New("command line too long")

// Reader reads commands from a client. It is not safe for concurrent use.
type Reader struct {
	br *bufio.Reader
	// MaxLine bounds the octets of one command outside APPEND message
	// literals (0: DefaultMaxLine).
	MaxLine int
	// MaxLiteral bounds an APPEND message literal (0: DefaultMaxLiteral);
	// the server announces it as APPENDLIMIT (RFC 7889).
	MaxLiteral int64
	// LiteralPlus accepts non-synchronising literals of any allowed size
	// (RFC 7888 LITERAL+); otherwise they are limited to 4096 (LITERAL-).
	LiteralPlus bool
	// UTF8 is set once the client enabled UTF8=ACCEPT (RFC 6855): mailbox
	// names are UTF-8 and not decoded from modified UTF-7.
	UTF8 bool
	// Continue is called before reading a synchronising literal; it sends
	// the "+" continuation request (RFC 9051 §7.5).
	Continue func() error

	// nameErr is why a mailbox name of the current command was refused
	// (decodeMailbox); it becomes Command.NameErr.
	nameErr string

	line  []byte // the current line, without CRLF
	pos   int
	total int // octets of the current command, message literals excluded
	tag   string
}

// NewReader returns a Reader on br.
func NewReader(br *bufio.Reader) *Reader { return &Reader{br: br} }

// SetBuffer makes the Reader read from br, which continues the stream
// where the previous one stopped (a session gives its buffer back to a
// pool while it waits for the client, and takes one again).
func (r *Reader) SetBuffer(br *bufio.Reader) { r.br = br }

func (r *Reader) maxLine() int {
	if r.MaxLine > 0 {
		return r.MaxLine
	}
	return DefaultMaxLine
}

func (r *Reader) maxLiteral() int64 {
	if r.MaxLiteral > 0 {
		return r.MaxLiteral
	}
	return DefaultMaxLiteral
}

// readLine reads the next line into r.line, without CRLF (a bare LF is
// accepted too). A line over the limit is consumed and reported.
func (r *Reader) readLine() error {
	r.line = r.line[:0]
	r.pos = 0
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(r.line)+len(chunk)+r.total > r.maxLine()+2 {
				tooLong = true
			} else {
				r.line = append(r.line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && (len(r.line) > 0 || tooLong) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		break
	}
	if tooLong {
		return errLineTooLong
	}
	r.line = bytes.TrimSuffix(r.line, []byte{'\n'})
	r.line = bytes.TrimSuffix(r.line, []byte{'\r'})
	r.total += len(r.line) + 2
	return nil
}

// ReadLine reads one raw line (an AUTHENTICATE response, or "DONE" after
// IDLE) within the line limit.
func (r *Reader) ReadLine() (string, error) {
	r.total = 0
	if err := r.readLine(); err != nil {
		if err == errLineTooLong {
			return "", &ParseError{Msg: "line too long", Fatal: true}
		}
		return "", err
	}
	return string(r.line), nil
}

func (r *Reader) errorf(format string, args ...any) *ParseError {
	return &ParseError{Tag: r.tag, Msg: fmt.Sprintf(format, args...)}
}

func (r *Reader) eol() bool { return r.pos >= len(r.line) }

func (r *Reader) peek() byte {
	if r.pos < len(r.line) {
		return r.line[r.pos]
	}
	return 0
}

func (r *Reader) expect(c byte) error {
	if r.peek() != c {
		if r.eol() {
			return r.errorf("expected %q, got end of line", c)
		}
		return r.errorf("expected %q at %q", c, r.rest())
	}
	r.pos++
	return nil
}

func (r *Reader) sp() error { return r.expect(' ') }

func (r *Reader) rest() string {
	s := r.line[r.pos:]
	if len(s) > 20 {
		s = s[:20]
	}
	return string(s)
}

// isAtomChar reports whether c is an ATOM-CHAR (RFC 9051 §9): any CHAR
// but atom-specials.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x20 && c < 0x7f
}

// atomWhile reads 1*chars accepted by ok.
func (r *Reader) atomWhile(ok func(byte) bool) (string, error) {
	start := r.pos
	for r.pos < len(r.line) && ok(r.line[r.pos]) {
		r.pos++
	}
	if r.pos == start {
		if r.eol() {
			return "", r.errorf("expected atom, got end of line")
		}
		return "", r.errorf("expected atom at %q", r.rest())
	}
	return string(r.line[start:r.pos]), nil
}

func (r *Reader) atom() (string, error) { return r.atomWhile(isAtomChar) }

// astringChar is ATOM-CHAR or resp-specials ("]"). Octets of UTF-8 are
// accepted too: clients send unquoted UTF-8 mailbox names (RFC 6855 §3
// allows UTF-8 in strings; we are lenient about atoms).
func astringChar(c byte) bool { return isAtomChar(c) || c == ']' || c >= 0x80 }

// astring reads an astring: 1*ASTRING-CHAR or a string.
func (r *Reader) astring() (string, error) {
	switch r.peek() {
	case '"', '{', '~':
		if r.peek() == '~' && !bytes.HasPrefix(r.line[r.pos:], []byte("~{")) {
			break
		}
		b, err := r.str(false)
		return string(b), err
	}
	return r.atomWhile(astringChar)
}

// nstring reads a string or NIL.
func (r *Reader) nstring() (string, bool, error) {
	if r.peek() == 'N' || r.peek() == 'n' {
		a, err := r.atom()
		if err != nil {
			return "", false, err
		}
		if !equalFold(a, "NIL") {
			return "", false, r.errorf("expected string or NIL")
		}
		return "", true, nil
	}
	b, err := r.str(false)
	return string(b), false, err
}

// str reads a quoted string or a literal. message selects the APPEND
// message limit instead of the line limit.
func (r *Reader) str(message bool) ([]byte, error) {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{', '~':
		b, _, err := r.literal(message)
		return b, err
	}
	return nil, r.errorf("expected string at %q", r.rest())
}

// quoted reads a quoted string (RFC 9051 §9: quoted-specials escaped by
// "\"; UTF-8 is allowed, CR and LF are not).
func (r *Reader) quoted() ([]byte, error) {
	if err := r.expect('"'); err != nil {
		return nil, err
	}
	var out []byte
	for {
		if r.eol() {
			return nil, r.errorf("unterminated quoted string")
		}
		c := r.line[r.pos]
		r.pos++
		switch c {
		case '"':
			if out == nil {
				out = []byte{}
			}
			return out, nil
		case '\\':
			if r.eol() || (r.line[r.pos] != '"' && r.line[r.pos] != '\\') {
				return nil, r.errorf("bad escape in quoted string")
			}
			out = append(out, r.line[r.pos])
			r.pos++
		case 0:
			return nil, r.errorf("NUL in quoted string")
		default:
			out = append(out, c)
		}
	}
}

// literal reads "{n}" / "{n+}" / "~{n}" CRLF and n octets, then the next
// line. The literal must end the current line (RFC 9051 §4.3).
func (r *Reader) literal(message bool) ([]byte, bool, error) {
	return r.literalWithin(message, r.maxLiteral())
}

// literalWithin is literal with room, instead of the APPEND message
// limit, as the bound of a message literal.
func (r *Reader) literalWithin(message bool, room int64) ([]byte, bool, error) {
	binary := false
	if r.peek() == '~' {
		binary = true
		r.pos++
	}
	if err := r.expect('{'); err != nil {
		return nil, false, err
	}
	end := bytes.IndexByte(r.line[r.pos:], '}')
	if end < 0 || r.pos+end+1 != len(r.line) {
		return nil, false, r.errorf("literal size must end the line")
	}
	spec := string(r.line[r.pos : r.pos+end])
	r.pos += end + 1
	nonSync := len(spec) > 0 && spec[len(spec)-1] == '+'
	if nonSync {
		spec = spec[:len(spec)-1]
	}
	n, err := strconv.ParseInt(spec, 10, 64)
	if err != nil || n < 0 || len(spec) == 0 || spec[0] == '+' {
		return nil, false, r.errorf("bad literal size")
	}
	limit := int64(r.maxLine() - r.total)
	if message {
		limit = room
	}
	if nonSync && !r.LiteralPlus && n > nonSyncLimit && !message {
		limit = nonSyncLimit
	}
	if n > limit {
		// A synchronising literal was not sent yet: the client waits for
		// our answer. A non-synchronising one is on its way and we cannot
		// follow the stream (RFC 7888 §4).
		return nil, false, &ParseError{Tag: r.tag, Code: "TOOBIG", Msg: "literal too large", Fatal: nonSync}
	}
	if !nonSync && r.Continue != nil {
		if err := r.Continue(); err != nil {
			return nil, false, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return nil, false, err
	}
	if !message {
		r.total += int(n)
	}
	if err := r.readLine(); err != nil {
		return nil, false, r.framingError(err)
	}
	return buf, binary, nil
}

func (r *Reader) framingError(err error) error {
	if err == errLineTooLong {
		return &ParseError{Tag: r.tag, Msg: "command too long", Fatal: true}
	}
	return err
}

// number reads a number (RFC 9051 §9: up to 32 bits).
func (r *Reader) number() (uint32, error) {
	n, err := r.number64()
	if err != nil {
		return 0, err
	}
	if n > 0xffffffff {
		return 0, r.errorf("number out of range")
	}
	return uint32(n), nil
}

// number64 reads a number64 (RFC 9051 §9: 63 bits).
func (r *Reader) number64() (uint64, error) {
	start := r.pos
	for r.pos < len(r.line) && r.line[r.pos] >= '0' && r.line[r.pos] <= '9' {
		r.pos++
	}
	if start == r.pos {
		return 0, r.errorf("expected number at %q", r.rest())
	}
	n, err := strconv.ParseUint(string(r.line[start:r.pos]), 10, 63)
	if err != nil {
		return 0, r.errorf("number out of range")
	}
	return n, nil
}

// seqSet reads a sequence-set.
func (r *Reader) seqSet() (SeqSet, error) {
	s, err := r.atomWhile(func(c byte) bool {
		return c >= '0' && c <= '9' || c == ':' || c == ',' || c == '*' || c == '$'
	})
	if err != nil {
		return SeqSet{}, err
	}
	set, err := ParseSeqSet(s)
	if err != nil {
		return SeqSet{}, r.errorf("bad sequence set %q", s)
	}
	return set, nil
}

// mailbox reads a mailbox name: an astring, "INBOX" in any case is INBOX,
// decoded from modified UTF-7 unless UTF-8 names are on. A name that is
// good syntax but no acceptable name is not a parse error: it is recorded
// (Command.NameErr) so that the server answers NO, and "" is returned.
func (r *Reader) mailbox() (string, error) {
	s, err := r.astring()
	if err != nil {
		return "", err
	}
	name, _ := r.decodeMailbox(s, false)
	return name, nil
}

// decodeMailbox converts a mailbox name (or LIST pattern) as sent to UTF-8.
// RFC 3501 §7.1 keeps BAD for protocol syntax, so a name that is not valid
// modified UTF-7 (RFC 3501 §5.1.3) or not valid UTF-8 (RFC 6855 §3) sets
// r.nameErr and ok is false. For a LIST pattern (pattern set), a 7-bit
// pattern that is not valid modified UTF-7 matches nothing and is no error
// (ok false, nameErr unset): LIST then answers OK with no result.
func (r *Reader) decodeMailbox(s string, pattern bool) (name string, ok bool) {
	if equalFold(s, "INBOX") {
		return "INBOX", true
	}
	if r.UTF8 {
		// RFC 6855 §3 and RFC 9051 §5.1: UTF-8, taken as is; "&" is
		// an ordinary character once modified UTF-7 is off.
		if msg := checkUTF8Name(s); msg != "" {
			r.noteNameErr(msg)
			return "", false
		}
		return s, true
	}
	if hasHighBit(s) {
		// Dovecot does the same: taking raw 8-bit as UTF-8 here made
		// mbsync 1.4 create a duplicate folder on every sync, since
		// it then looked for the name in modified UTF-7.
		r.noteNameErr("mailbox name has 8-bit characters: use modified UTF-7 or ENABLE UTF8=ACCEPT")
		return "", false
	}
	d, err := DecodeMUTF7(s)
	if err != nil {
		if !pattern {
			r.noteNameErr("mailbox name is not valid modified UTF-7")
		}
		return "", false
	}
	if msg := checkUTF8Name(d); msg != "" {
		r.noteNameErr(msg)
		return "", false
	}
	return d, true
}

// noteNameErr keeps the first bad-name message of the command.
func (r *Reader) noteNameErr(msg string) {
	if r.nameErr == "" {
		r.nameErr = msg
	}
}

// checkUTF8Name returns why s is not an acceptable mailbox name, or "".
// RFC 6855 §3: valid UTF-8 without control characters (U+0000–U+001F,
// U+007F–U+009F), LINE SEPARATOR or PARAGRAPH SEPARATOR.
func checkUTF8Name(s string) string {
	if !utf8.ValidString(s) {
		return "mailbox name is not valid UTF-8"
	}
	for _, c := range s {
		if c < 0x20 || c >= 0x7f && c <= 0x9f || c == 0x2028 || c == 0x2029 {
			return "mailbox name contains a control character"
		}
	}
	return ""
}

func hasHighBit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// flagList reads "(" [flag *(SP flag)] ")".
func (r *Reader) flagList() ([]string, error) {
	if err := r.expect('('); err != nil {
		return nil, err
	}
	flags := []string{}
	err := r.listItems(func() error {
		f, err := r.flag()
		if err != nil {
			return err
		}
		flags = append(flags, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return flags, nil
}

// listItems reads the rest of a parenthesised list whose "(" has been
// read: [item *(SP item)] ")". each reads one item.
func (r *Reader) listItems(each func() error) error {
	for first := true; r.peek() != ')'; first = false {
		if !first {
			if err := r.sp(); err != nil {
				return err
			}
		}
		if err := each(); err != nil {
			return err
		}
	}
	r.pos++
	return nil
}

// flag reads a flag: "\" atom or a keyword atom.
func (r *Reader) flag() (string, error) {
	prefix := ""
	if r.peek() == '\\' {
		r.pos++
		prefix = `\`
	}
	a, err := r.atom()
	if err != nil {
		return "", err
	}
	return prefix + a, nil
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
