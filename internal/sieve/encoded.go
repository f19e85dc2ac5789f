package sieve

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The "encoded-character" capability of RFC 5228 §2.4.2.4: in every
// string of a script that requires it, "${hex:...}" stands for octets and
// "${unicode:...}" for UTF-8 encoded characters. Decoding happens once, at
// compile time, after escapes and dot-unstuffing and before variables
// (RFC 5229 §3.1) are expanded at run time.

// requiresEncoded reports whether the script's leading require commands
// name "encoded-character".
func requiresEncoded(nodes []*node) bool {
	for _, n := range nodes {
		if n.name != "require" {
			return false
		}
		for _, a := range n.args {
			if slices.Contains(a.strs, "encoded-character") {
				return true
			}
		}
	}
	return false
}

// decodeNodes decodes the strings of the script.
func decodeNodes(nodes []*node) error {
	return walkStrings(nodes, func(s *string, p Pos) error {
		d, err := decodeEncoded(*s)
		if err != nil {
			return errAt(p, "%v", err)
		}
		*s = d
		return nil
	})
}

// walkStrings calls fn with every string argument of every command and
// test but require: extensions must not change what require means
// (RFC 5228 §6).
func walkStrings(nodes []*node, fn func(s *string, p Pos) error) error {
	for _, n := range nodes {
		if n.name == "require" {
			continue
		}
		for i := range n.args {
			a := &n.args[i]
			for j := range a.strs {
				if err := fn(&a.strs[j], a.pos); err != nil {
					return err
				}
			}
		}
		if err := walkStrings(n.tests, fn); err != nil {
			return err
		}
		if err := walkStrings(n.block, fn); err != nil {
			return err
		}
	}
	return nil
}

// encodedError is a well-formed "${unicode:...}" naming no character.
type encodedError string

func (e encodedError) Error() string { return string(e) }

// decodeEncoded replaces the well-formed encodings in s; anything else,
// such as "${hex:400}" or "${ unicode:40}", stays as it is. Replacement
// text is not scanned again: "${hex:4${hex:30}}" is "${hex:40}". The scan
// is linear: an encoding holds no "$", so no octet is looked at twice.
func decodeEncoded(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		out, n, err := encodedAt(s[i:])
		if err != nil {
			return "", err
		}
		if n == 0 {
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(out)
		s = s[i+n:]
	}
}

// encodedAt decodes the encoding s starts with ("${" ...): n is its
// length, 0 when it is not a well-formed one.
//
//	encoded-arb-octets   = "${hex:" hex-pair-seq "}"
//	encoded-unicode-char = "${unicode:" unicode-hex-seq "}"
//	blank                = WSP / CRLF
func encodedAt(s string) (out string, n int, err error) {
	var kind string
	for _, k := range []string{"hex:", "unicode:"} {
		if len(s) >= 2+len(k) && strings.EqualFold(s[2:2+len(k)], k) {
			kind = k
		}
	}
	if kind == "" {
		return "", 0, nil
	}
	var seq []string
	for i := 2 + len(kind); i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n': // a bare LF too: scripts with LF line ends are accepted
			i++
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			i += 2
		case c == '}':
			if len(seq) == 0 {
				return "", 0, nil
			}
			out, err := decodeSeq(kind, seq)
			return out, i + 1, err
		case isHexDigit(c):
			j := i
			for j < len(s) && isHexDigit(s[j]) {
				j++
			}
			if kind == "hex:" && j-i > 2 {
				return "", 0, nil // hex-pair = 1*2HEXDIG
			}
			seq = append(seq, s[i:j])
			i = j
		default:
			return "", 0, nil
		}
	}
	return "", 0, nil
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// decodeSeq turns a well-formed sequence of hex numbers into octets or
// UTF-8 encoded characters.
func decodeSeq(kind string, seq []string) (string, error) {
	var b strings.Builder
	for _, h := range seq {
		v, err := strconv.ParseUint(h, 16, 32)
		if kind == "hex:" {
			b.WriteByte(byte(v))
			continue
		}
		// RFC 5228 §2.4.2.4: values outside 0-D7FF and E000-10FFFF are an
		// error (only in a well-formed sequence, as this one is).
		if err != nil || v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			return "", encodedError("${unicode:" + h + "} is not a Unicode character (RFC 5228 §2.4.2.4)")
		}
		b.WriteRune(rune(v))
	}
	return b.String(), nil
}
