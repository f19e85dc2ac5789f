package message

import "strings"

// MaxReferences is how many message identifiers of a References header
// are kept: the first one and the last MaxReferences-1. RFC 5256 §3
// (REFERENCES, step 1.A) is written for References that MUAs have
// truncated, and RFC 5537 §3.4.4 says how they truncate: they drop
// identifiers after the first, keeping the last ones. Keeping what a
// truncating MUA keeps bounds the stored Info of any message while the
// thread built from it stays the one a real, truncated header gives.
const MaxReferences = 50

// NextMsgID finds the first valid message identifier in s (RFC 5322
// §3.6.4 msg-id, with the obsolete forms of §4.5.4) and returns it in the
// normalised form RFC 5256 §3 requires for comparison: without the angle
// brackets, quoted strings unquoted, comments and white space removed, so
// that <"a.b"@x> and <a.b@x> are the same identifier. It returns the rest
// of s after the identifier; ok is false when s holds none. Text that is
// not an identifier (In-Reply-To often carries prose) is skipped.
func NextMsgID(s string) (id, rest string, ok bool) {
	for {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			return "", "", false
		}
		s = s[lt+1:]
		gt := strings.IndexByte(s, '>')
		if gt < 0 {
			return "", "", false
		}
		// Fast path: the usual <left@right> with nothing to normalise.
		inner := s[:gt]
		if strings.IndexAny(inner, "<\"()\\ \t\r\n") < 0 {
			if validMsgID(inner) {
				return inner, s[gt+1:], true
			}
			s = s[gt+1:]
			continue
		}
		if id, n, ok := normalizeMsgID(s); ok {
			return id, s[n:], true
		}
		// Not an identifier: look for the next "<" after this one.
	}
}

// normalizeMsgID reads the inside of a msg-id from s (just after "<") up
// to its ">", returning the normalised identifier and the length read. A
// "<" outside a quoted string ends the attempt: it starts another one.
func normalizeMsgID(s string) (string, int, bool) {
	var b strings.Builder
	depth := 0 // of comments
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth > 0:
			switch c {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
		case c == '(':
			depth = 1
		case c == '"':
			// quoted-string of RFC 5322 §3.2.4: keep its content.
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				if s[i] != '\r' && s[i] != '\n' {
					b.WriteByte(s[i])
				}
			}
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case c == '<':
			return "", 0, false
		case c == '>':
			id := b.String()
			return id, i + 1, validMsgID(id)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// validMsgID reports an id-left "@" id-right with both sides non-empty.
func validMsgID(id string) bool {
	at := strings.LastIndexByte(id, '@')
	return at > 0 && at < len(id)-1
}

// FirstMsgID is the first valid message identifier of s, normalised as
// NextMsgID does, or "" when there is none. RFC 5256 §3 uses only the
// first one of In-Reply-To, whose other content is often prose.
func FirstMsgID(s string) string {
	id, _, _ := NextMsgID(s)
	return id
}

// ParseReferences returns the valid message identifiers of a References
// header value in order, normalised, bounded to MaxReferences (the first
// and the last ones, see MaxReferences). It returns nil when there is
// none.
func ParseReferences(s string) []string {
	var ids []string
	for {
		id, rest, ok := NextMsgID(s)
		if !ok {
			return ids
		}
		s = rest
		if len(ids) == MaxReferences {
			// Drop the second, as a truncating MUA does, keeping the
			// first (the thread's start) and the newest.
			copy(ids[1:], ids[2:])
			ids = ids[:MaxReferences-1]
		}
		ids = append(ids, id)
	}
}

// HeaderReferences parses the References field of a message header (the
// bytes up to the blank line, as stored) the way Parse does at delivery.
// It serves messages stored before Info held References.
func HeaderReferences(hdr []byte) []string {
	h, _ := splitHeader(hdr, 0, len(hdr))
	f := parseFields(h)
	return ParseReferences(f.references)
}
