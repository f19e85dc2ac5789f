package mailauth

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Our Authentication-Results field is formatted here rather than by
// go-msgauth's authres.Format, which builds it by string concatenation
// from a map per method (about twenty allocations and 5 µs per message
// on the MX path). The output is byte for byte what authres.Format
// writes (authres_test.go compares both on a corpus and in a fuzz
// target); go-msgauth still parses the field (arcseal.go).

// resInfo is one method's result of an Authentication-Results field
// (RFC 8601 §2.2 resinfo). Its properties are the next nprops of the
// props slice given with it (an index rather than a slice of its own,
// so that a caller's arrays of both can stay on its stack).
type resInfo struct {
	method string
	value  string // the result value, written as it is
	reason string // reasonspec; "" for none
	nprops int
}

// resProp is one propspec (RFC 8601 §2.2), e.g. smtp.mailfrom=example.org.
// One with an empty value is left out, as authres.Format does.
type resProp struct{ key, value string }

// appendAuthResults appends the field's value for authserv-id id: what
// authres.Format(id, results) returns. rs[0]'s properties are the first
// rs[0].nprops of props, and so on. It sorts each result's properties by
// key (authres.Format writes reason first, then the properties in key
// order); a key must not repeat within a result nor be "reason".
func appendAuthResults(b []byte, id string, rs []resInfo, props []resProp) []byte {
	b = append(b, id...)
	if len(rs) == 0 {
		return append(b, "; none"...)
	}
	for _, r := range rs {
		b = append(b, "; "...)
		b = append(b, r.method...)
		b = append(b, '=')
		b = append(b, r.value...)
		b = append(b, ' ')
		b = appendProps(b, r.reason, props[:r.nprops])
		props = props[r.nprops:]
	}
	return b
}

// appendProps writes reason and props, separated by single spaces.
func appendProps(b []byte, reason string, props []resProp) []byte {
	sortProps(props)
	first := true
	if reason != "" {
		b = append(b, "reason="...)
		b = appendValue(b, reason)
		first = false
	}
	for _, p := range props {
		if p.value == "" {
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, p.key...)
		b = append(b, '=')
		b = appendPvalue(b, p.value)
	}
	return b
}

// sortProps sorts a handful of properties by key, in place (an
// insertion sort: slices.SortFunc would move them to the heap).
func sortProps(ps []resProp) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].key < ps[j-1].key; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// tspecial marks the tspecials of RFC 2045 §5.1, which a value
// (token / quoted-string) may hold only quoted.
var tspecial = [128]bool{
	'(': true, ')': true, '<': true, '>': true, '@': true,
	',': true, ';': true, ':': true, '\\': true, '"': true,
	'/': true, '[': true, ']': true, '?': true, '=': true,
}

// appendValue writes s as a token, or as a quoted-string when it holds
// a space, a control or a tspecial (RFC 2045 §5.1). As authres.Format
// does, only '"' is escaped; bytes above ASCII stay as they are.
func appendValue(b []byte, s string) []byte {
	quote := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || (c < 0x80 && tspecial[c]) {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i]...)
		b = append(b, `\"`...)
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

// addressOK marks the ASCII punctuation authres.Format leaves unquoted in
// a property value (pvalue, RFC 8601 §2.2): most of it, but not ( ) = "
// which could be read as the start of a comment or another property.
var addressOK = [128]bool{
	'#': true, '$': true, '%': true, '&': true,
	'\'': true, '*': true, '+': true, ',': true,
	'.': true, '/': true, '-': true, '@': true,
	'[': true, ']': true, '\\': true, '^': true,
	'_': true, '`': true, '{': true, '|': true,
	'}': true, '~': true,
}

// appendPvalue writes s unquoted when it looks like an address or a
// domain (letters, digits, addressOK), else as appendValue does.
func appendPvalue(b []byte, s string) []byte {
	if addressLike(s) {
		return append(b, s...)
	}
	return appendValue(b, s)
}

func addressLike(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !addressOK[c] && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') {
				return false
			}
			i++
			continue
		}
		// An invalid byte decodes as U+FFFD, neither letter nor digit,
		// as in authres.Format's range loop.
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
		i += n
	}
	return true
}

// foldField returns the Authentication-Results field of value v (from
// appendAuthResults): a new line and a tab after each "; ", so that lines
// stay short (RFC 5322 §2.2.3), and CRLF at the end.
func foldField(v []byte) string {
	const name, sep, folded = "Authentication-Results: ", "; ", ";\r\n\t"
	var sb strings.Builder
	sb.Grow(len(name) + len(v) + bytes.Count(v, []byte(sep))*(len(folded)-len(sep)) + 2)
	sb.WriteString(name)
	for {
		i := bytes.Index(v, []byte(sep))
		if i < 0 {
			break
		}
		sb.Write(v[:i])
		sb.WriteString(folded)
		v = v[i+len(sep):]
	}
	sb.Write(v)
	sb.WriteString("\r\n")
	return sb.String()
}
