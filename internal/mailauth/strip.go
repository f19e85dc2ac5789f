package mailauth

import (
	"bytes"
	"strings"
)

// StripForged removes the Authentication-Results fields of msg's header
// that claim hostname as their authentication service: only we may write
// those, so any already present came from elsewhere (RFC 8601 §5). Other
// services' fields stay. The body is never touched.
func StripForged(msg []byte, hostname string) []byte {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	} else {
		end += 2
	}
	var out []byte
	removed := false
	for pos := 0; pos < end; {
		f := fieldEnd(msg, pos, end)
		field := msg[pos:f]
		if isAuthResults(field) && strings.EqualFold(authservID(field), hostname) {
			if !removed {
				out = append(out, msg[:pos]...)
				removed = true
			}
		} else if removed {
			out = append(out, field...)
		}
		pos = f
	}
	if !removed {
		return msg
	}
	return append(out, msg[end:]...)
}

// fieldEnd returns the end of the header field starting at pos: after its
// last line, continuation lines (starting with space or tab) included.
func fieldEnd(msg []byte, pos, end int) int {
	for {
		i := bytes.IndexByte(msg[pos:end], '\n')
		if i < 0 {
			return end
		}
		pos += i + 1
		if pos >= end || (msg[pos] != ' ' && msg[pos] != '\t') {
			return pos
		}
	}
}

func isAuthResults(field []byte) bool {
	const name = "authentication-results"
	if len(field) <= len(name) || !strings.EqualFold(string(field[:len(name)]), name) {
		return false
	}
	rest := bytes.TrimLeft(field[len(name):], " \t")
	return len(rest) > 0 && rest[0] == ':'
}

// authservID extracts the authserv-id (RFC 8601 §2.2): the first token of
// the value, before ';', comments and the optional version dropped.
func authservID(field []byte) string {
	_, v, _ := strings.Cut(string(field), ":")
	v, _, _ = strings.Cut(v, ";")
	v = stripComments(v)
	if f := strings.Fields(v); len(f) > 0 {
		return strings.Trim(f[0], `"`)
	}
	return ""
}

// stripComments removes (possibly nested) RFC 5322 comments.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}
