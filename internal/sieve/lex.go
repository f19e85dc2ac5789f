// Package sieve is youju's Sieve mail filtering language (RFC 5228):
// a lexer and parser that report errors with line and column, a checker
// that compiles the syntax tree into typed commands, and an interpreter
// that runs a compiled script against one message and returns the actions
// to take. Delivery (internal/delivery) carries the actions out.
//
// Extensions: fileinto (+ :create, RFC 5490 §3), copy (RFC 3894),
// imap4flags (RFC 5232), body (RFC 5173), variables (RFC 5229), vacation
// (RFC 5230), envelope, reject and ereject (RFC 5429), relational
// (RFC 5231), encoded-character (RFC 5228 §2.4.2.4), the i;octet,
// i;ascii-casemap and i;ascii-numeric comparators.
package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxScriptSize bounds a script's source.
const MaxScriptSize = 256 << 10

// Pos is a position in the script: 1-based line and column (in bytes).
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// CompileError is a script that does not compile: where, and what was
// wrong or expected. ManageSieve's CHECKSCRIPT and PUTSCRIPT return it.
type CompileError struct {
	Pos
	Msg string
}

func (e *CompileError) Error() string { return e.Pos.String() + ": " + e.Msg }

func errAt(p Pos, format string, a ...any) *CompileError {
	return &CompileError{Pos: p, Msg: fmt.Sprintf(format, a...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tPunct // one of [ ] ( ) , ; { }
)

func (k tokKind) String() string {
	return [...]string{"end of script", "identifier", "tag", "number", "string", "punctuation"}[k]
}

type token struct {
	kind tokKind
	text string // identifier/tag (lower-cased, without ':'), string value, punctuation
	num  int64
	pos  Pos
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier " + strconv.Quote(t.text)
	case tTag:
		return "tag :" + t.text
	case tNumber:
		return "number " + strconv.FormatInt(t.num, 10)
	case tString:
		return "string"
	}
	return strconv.Quote(t.text)
}

// lexer splits a script into tokens (RFC 5228 §8.1).
type lexer struct {
	src       string
	i         int
	line, col int
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) advance(n int) {
	for k := 0; k < n && l.i < len(l.src); k++ {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.i++
	}
}

// maxNumber bounds numbers after their quantifier (RFC 5228 §2.4.1
// requires at least 2^31).
const maxNumber = 1<<62 - 1

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.i]
	switch {
	case strings.IndexByte("[](),;{}", c) >= 0:
		l.advance(1)
		return token{kind: tPunct, text: string(c), pos: p}, nil
	case c == '"':
		s, err := l.quoted()
		return token{kind: tString, text: s, pos: p}, err
	case c == ':':
		l.advance(1)
		id := l.ident()
		if id == "" {
			return token{}, errAt(p, "expected a tag name after ':'")
		}
		return token{kind: tTag, text: strings.ToLower(id), pos: p}, nil
	case c >= '0' && c <= '9':
		return l.number(p)
	case isIdentStart(c):
		id := l.ident()
		if strings.EqualFold(id, "text") && l.i < len(l.src) && l.src[l.i] == ':' {
			l.advance(1)
			s, err := l.multiline(p)
			return token{kind: tString, text: s, pos: p}, err
		}
		return token{kind: tIdent, text: strings.ToLower(id), pos: p}, nil
	}
	return token{}, errAt(p, "unexpected character %q", rune(c))
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (l *lexer) ident() string {
	start := l.i
	for l.i < len(l.src) {
		c := l.src[l.i]
		if !isIdentStart(c) && !(c >= '0' && c <= '9') {
			break
		}
		l.advance(1)
	}
	return l.src[start:l.i]
}

// skipSpace skips white space and comments (RFC 5228 §2.3).
func (l *lexer) skipSpace() error {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.advance(1)
			}
		case c == '/' && strings.HasPrefix(l.src[l.i:], "/*"):
			p := l.pos()
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return errAt(p, "unterminated comment: expected */")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

// number reads a number with an optional K, M or G quantifier (§2.4.1).
func (l *lexer) number(p Pos) (token, error) {
	start := l.i
	for l.i < len(l.src) && l.src[l.i] >= '0' && l.src[l.i] <= '9' {
		l.advance(1)
	}
	n, err := strconv.ParseInt(l.src[start:l.i], 10, 64)
	if err != nil || n > maxNumber {
		return token{}, errAt(p, "number too large")
	}
	if l.i < len(l.src) {
		mult := int64(0)
		switch l.src[l.i] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 0 {
			l.advance(1)
			if n > maxNumber/mult {
				return token{}, errAt(p, "number too large")
			}
			n *= mult
		}
	}
	if l.i < len(l.src) && (isIdentStart(l.src[l.i]) || l.src[l.i] >= '0' && l.src[l.i] <= '9') {
		return token{}, errAt(l.pos(), "unexpected character %q after number", rune(l.src[l.i]))
	}
	return token{kind: tNumber, num: n, pos: p}, nil
}

// quoted reads a quoted string: \" and \\ are the escapes; a backslash
// before any other character is dropped (RFC 5228 §2.4.2).
func (l *lexer) quoted() (string, error) {
	p := l.pos()
	l.advance(1)
	var b strings.Builder
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch c {
		case '"':
			l.advance(1)
			return b.String(), nil
		case '\\':
			if l.i+1 < len(l.src) {
				b.WriteByte(l.src[l.i+1])
				l.advance(2)
				continue
			}
			l.advance(1)
		default:
			b.WriteByte(c)
			l.advance(1)
		}
	}
	return "", errAt(p, "unterminated string: expected '\"'")
}

// multiline reads a "text:" string up to a line holding only ".";
// a line starting with ".." loses one dot (dot-stuffing, RFC 5228 §2.4.2).
func (l *lexer) multiline(p Pos) (string, error) {
	// The rest of the "text:" line may hold blanks and a hash comment.
	for l.i < len(l.src) && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
		l.advance(1)
	}
	if l.i < len(l.src) && l.src[l.i] == '#' {
		for l.i < len(l.src) && l.src[l.i] != '\n' {
			l.advance(1)
		}
	}
	if l.i < len(l.src) && l.src[l.i] == '\r' {
		l.advance(1)
	}
	if l.i >= len(l.src) || l.src[l.i] != '\n' {
		return "", errAt(l.pos(), "expected end of line after text:")
	}
	l.advance(1)
	var b strings.Builder
	for l.i < len(l.src) {
		end := strings.IndexByte(l.src[l.i:], '\n')
		var line string
		if end < 0 {
			line = l.src[l.i:]
			end = len(line)
		} else {
			line = l.src[l.i : l.i+end+1]
			end++
		}
		l.advance(end)
		bare := strings.TrimRight(line, "\r\n")
		if bare == "." {
			return b.String(), nil
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
	}
	return "", errAt(p, "unterminated text: string, expected a line with a single '.'")
}
