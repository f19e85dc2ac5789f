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
// text is not scanned again: "${hex:4${hex:30}}" is "${hex:40}".
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
		s = s[i:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		out, ok, err := decodeOne(s[2:end])
		if err != nil {
			return "", err
		}
		if !ok {
			b.WriteString("${")
			s = s[2:]
			continue
		}
		b.WriteString(out)
		s = s[end+1:]
	}
}

// decodeOne decodes the inside of one "${...}": ok is false when it is
// not a well-formed encoding.
func decodeOne(inner string) (string, bool, error) {
	colon := strings.IndexByte(inner, ':')
	if colon < 0 {
		return "", false, nil
	}
	kind := strings.ToLower(inner[:colon])
	if kind != "hex" && kind != "unicode" {
		return "", false, nil
	}
	// blank = WSP / CRLF; a bare LF too, as scripts with LF line ends
	// are accepted.
	seq := strings.FieldsFunc(inner[colon+1:], func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	})
	if len(seq) == 0 || strings.ContainsRune(inner[colon+1:], '\r') && !crlfOnly(inner[colon+1:]) {
		return "", false, nil
	}
	for _, h := range seq {
		if strings.Trim(h, "0123456789abcdefABCDEF") != "" || kind == "hex" && len(h) > 2 {
			return "", false, nil
		}
	}
	var b strings.Builder
	for _, h := range seq {
		if kind == "hex" {
			v, _ := strconv.ParseUint(h, 16, 8)
			b.WriteByte(byte(v))
			continue
		}
		v, err := strconv.ParseUint(h, 16, 32)
		// RFC 5228 §2.4.2.4: values outside 0-D7FF and E000-10FFFF are an
		// error (only in a well-formed sequence, as this one is).
		if err != nil || v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			return "", false, encodedError("${unicode:" + h + "} is not a Unicode character (RFC 5228 §2.4.2.4)")
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, nil
}

// crlfOnly reports whether every CR in s starts a CRLF.
func crlfOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' && (i+1 >= len(s) || s[i+1] != '\n') {
			return false
		}
	}
	return true
}
