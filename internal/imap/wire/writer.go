package wire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// Writer streams responses to a client. Errors are sticky: after the first
// write error every call is a no-op and Err reports it, so handlers write
// a whole response and check once. Nothing is buffered beyond the
// bufio.Writer: FETCH responses of a large mailbox are written as they are
// produced.
type Writer struct {
	bw  *bufio.Writer
	err error
	// UTF8 allows UTF-8 in quoted strings and mailbox names (IMAP4rev2,
	// RFC 9051 §9, or UTF8=ACCEPT, RFC 6855); otherwise 8-bit strings are
	// sent as literals and mailbox names in modified UTF-7.
	UTF8 bool
	num  [24]byte
}

// NewWriter returns a Writer on bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// SetBuffer makes the Writer write to bw and returns the buffer it used
// before, which the caller has flushed (a large buffer for a long
// response, then the session's small one again).
func (w *Writer) SetBuffer(bw *bufio.Writer) *bufio.Writer {
	old := w.bw
	w.bw = bw
	return old
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush flushes the buffer and returns the first error.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// Raw writes s as is (protocol syntax chosen by the caller).
func (w *Writer) Raw(s string) *Writer {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
	return w
}

// Byte writes one byte of syntax.
func (w *Writer) Byte(c byte) *Writer {
	if w.err == nil {
		w.err = w.bw.WriteByte(c)
	}
	return w
}

// SP writes a space.
func (w *Writer) SP() *Writer { return w.Byte(' ') }

// CRLF ends a response line.
func (w *Writer) CRLF() *Writer { return w.Raw("\r\n") }

// Atom writes an atom; the caller guarantees atom syntax.
func (w *Writer) Atom(s string) *Writer { return w.Raw(s) }

// Number writes a decimal number.
func (w *Writer) Number(n uint64) *Writer {
	if w.err == nil {
		_, w.err = w.bw.Write(strconv.AppendUint(w.num[:0], n, 10))
	}
	return w
}

// NIL writes NIL.
func (w *Writer) NIL() *Writer { return w.Raw("NIL") }

// String writes s as a quoted string when it can be one, else as a
// literal (RFC 9051 §4.3): CR, LF, NUL, 8-bit octets without UTF-8
// permission and long values go as literals.
func (w *Writer) String(s string) *Writer {
	esc, ok := scanQuoted(s, w.UTF8)
	if !ok {
		return w.LiteralString(s)
	}
	return w.Bytes(appendQuoted(w.AvailableBuffer(), s, esc))
}

// Byte classes for quoted strings (RFC 9051 §9 quoted-specials and
// TEXT-CHAR): escaped with a backslash, never quoted, or 8-bit.
const (
	classPlain = iota
	classEscape
	classLiteral
	class8bit
)

var strClass = func() (t [256]uint8) {
	t['"'], t['\\'] = classEscape, classEscape
	t[0], t['\r'], t['\n'] = classLiteral, classLiteral, classLiteral
	for c := 0x80; c < 0x100; c++ {
		t[c] = class8bit
	}
	return t
}()

// scanQuoted reports whether s can be a quoted string (ok) and whether it
// has characters to escape, in one pass: CR, LF, NUL, 8-bit octets
// without UTF-8 permission and long values go as literals.
func scanQuoted(s string, utf8 bool) (esc, ok bool) {
	if len(s) > 1024 {
		return false, false
	}
	for i := 0; i < len(s); i++ {
		switch strClass[s[i]] {
		case classPlain:
		case classEscape:
			esc = true
		case classLiteral:
			return false, false
		default:
			if !utf8 {
				return false, false
			}
		}
	}
	return esc, true
}

// appendQuoted appends s, which scanQuoted accepted, as a quoted string.
func appendQuoted(b []byte, s string, esc bool) []byte {
	b = append(b, '"')
	if !esc {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', c)
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendString appends s to b as String writes it (utf8 as Writer.UTF8),
// for responses built in memory before they are written.
func AppendString(b []byte, s string, utf8 bool) []byte {
	if esc, ok := scanQuoted(s, utf8); ok {
		return appendQuoted(b, s, esc)
	}
	b = append(b, '{')
	b = strconv.AppendUint(b, uint64(len(s)), 10)
	b = append(b, "}\r\n"...)
	start := len(b)
	b = append(b, s...)
	replaceNUL(b[start:])
	return b
}

// AppendNString appends s as NString writes it.
func AppendNString(b []byte, s string, utf8 bool) []byte {
	if s == "" {
		return append(b, "NIL"...)
	}
	return AppendString(b, s, utf8)
}

// AvailableBuffer returns an empty buffer whose capacity is the free
// space of the output buffer: appending to it and passing the result to
// Bytes writes without an intermediate copy (bufio.Writer.AvailableBuffer).
func (w *Writer) AvailableBuffer() []byte { return w.bw.AvailableBuffer() }

// Bytes writes b as is (protocol syntax built by the caller).
func (w *Writer) Bytes(b []byte) *Writer {
	if w.err == nil {
		_, w.err = w.bw.Write(b)
	}
	return w
}

// NString writes s, or NIL when s is empty.
func (w *Writer) NString(s string) *Writer {
	if s == "" {
		return w.NIL()
	}
	return w.String(s)
}

// AString writes s as an atom when it is one, else as a string.
func (w *Writer) AString(s string) *Writer {
	if s != "" && isAtomString(s) {
		return w.Raw(s)
	}
	return w.String(s)
}

func isAtomString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAtomChar(c) && c != ']' {
			return false
		}
	}
	return true
}

// LiteralString writes s as a literal, NUL octets replaced (see Literal).
func (w *Writer) LiteralString(s string) *Writer {
	w.Byte('{').Number(uint64(len(s))).Raw("}\r\n")
	if strings.IndexByte(s, 0) < 0 {
		return w.Raw(s)
	}
	b := []byte(s)
	replaceNUL(b)
	return w.Bytes(b)
}

// Literal writes n octets read from r as a literal ("~{n}" for literal8
// when binary), streaming them. If r ends early the connection cannot be
// continued, and the error says so. A plain literal cannot hold NUL (RFC
// 3501 §9 and RFC 9051 §9: CHAR8 is %x01-ff), and literal8 is for BINARY
// fetches only (RFC 3516 §4.2), so in a plain literal each NUL is sent as
// 0x80, as Dovecot does (lib-imap-storage/imap-msgpart.c: "IMAP literals
// must not contain NULs. change them to 0x80 characters."); the size is
// unchanged.
func (w *Writer) Literal(n int64, r io.Reader, binary bool) *Writer {
	if binary {
		w.Byte('~')
	} else {
		r = nulReplacer{r}
	}
	w.Byte('{').Number(uint64(n)).Raw("}\r\n")
	if w.err == nil {
		var m int64
		m, w.err = io.CopyN(w.bw, r, n)
		if w.err == io.EOF && m < n {
			w.err = io.ErrUnexpectedEOF
		}
	}
	return w
}

// nulReplacer replaces NUL octets by 0x80 as they are read.
type nulReplacer struct{ r io.Reader }

func (nr nulReplacer) Read(p []byte) (int, error) {
	n, err := nr.r.Read(p)
	replaceNUL(p[:n])
	return n, err
}

// replaceNUL replaces each NUL of b by 0x80, in place.
func replaceNUL(b []byte) {
	for i := bytes.IndexByte(b, 0); i >= 0; {
		b[i] = 0x80
		j := bytes.IndexByte(b[i+1:], 0)
		if j < 0 {
			return
		}
		i += 1 + j
	}
}

// Mailbox writes a mailbox name: UTF-8 when allowed, else modified UTF-7
// (RFC 3501 §5.1.3).
func (w *Writer) Mailbox(name string) *Writer {
	if !w.UTF8 {
		name = EncodeMUTF7(name)
	}
	return w.AString(name)
}

// SeqSet writes a sequence set.
func (w *Writer) SeqSet(s SeqSet) *Writer { return w.Raw(s.String()) }

// DateTime writes a quoted date-time (RFC 9051 §9).
func (w *Writer) DateTime(t time.Time) *Writer {
	return w.Byte('"').Raw(t.Format("02-Jan-2006 15:04:05 -0700")).Byte('"')
}

// Flags writes a parenthesised flag list.
func (w *Writer) Flags(flags []string) *Writer {
	w.Byte('(')
	for i, f := range flags {
		if i > 0 {
			w.SP()
		}
		w.Raw(f)
	}
	return w.Byte(')')
}
