package delivery

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Limits of RFC 5321 §4.5.3.1: local part 64 octets, domain 255, path 256.
// SMTPUTF8 local parts may be longer in characters but not in octets.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256
)

// Address is a parsed mailbox "local@domain". Domain is lower-case; Local
// keeps its case, since only the final server may interpret it (RFC 5321
// §2.4), but our own lookups are case-insensitive.
type Address struct {
	Local  string
	Domain string
}

// String returns "local@domain".
func (a Address) String() string { return a.Local + "@" + a.Domain }

// Key is the canonical lower-case form used for store lookups.
func (a Address) Key() string { return strings.ToLower(a.Local) + "@" + a.Domain }

var errAddress = errors.New("delivery: malformed address")

// ParseAddress parses a bare mailbox as go-smtp hands it over (angle
// brackets and source routes already removed): "local@domain", with a
// dot-string or an unquoted form of a quoted local part. It rejects what
// must never reach a lookup or a header: control characters, spaces outside
// quoting, empty parts, over-long parts, invalid UTF-8.
func ParseAddress(s string) (Address, error) {
	if len(s) == 0 || len(s) > maxPath || !utf8.ValidString(s) {
		return Address{}, errAddress
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Address{}, errAddress
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > maxLocalPart || len(domain) > maxDomain {
		return Address{}, errAddress
	}
	for i := 0; i < len(local); i++ {
		// Control characters and DEL never belong in an address; a
		// CR or LF here would let a client inject header lines
		// through Return-Path or Received.
		if c := local[i]; c < 0x20 || c == 0x7f {
			return Address{}, errAddress
		}
	}
	if !validDomain(domain) {
		return Address{}, errAddress
	}
	return Address{Local: local, Domain: strings.ToLower(domain)}, nil
}

// validDomain accepts a dot-separated domain (RFC 5321 §4.1.2 Domain, with
// U-labels allowed for SMTPUTF8, RFC 6531 §3.3) or an address literal in
// brackets.
func validDomain(d string) bool {
	if strings.HasPrefix(d, "[") {
		if !strings.HasSuffix(d, "]") || len(d) < 3 {
			return false
		}
		for _, c := range d[1 : len(d)-1] {
			if c <= ' ' || c == '[' || c == ']' || c == '\\' || c >= 0x7f {
				return false
			}
		}
		return true
	}
	for label := range strings.SplitSeq(d, ".") { // no slice: two calls per message
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			ok := c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
			if !ok {
				return false
			}
		}
	}
	return true
}

// IsASCII reports whether s needs no SMTPUTF8 (RFC 6531 §3.4).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// stripPlus returns the local part without a "+tag" suffix
// (plus-addressing: "user+tag" delivers to "user"), and whether there was
// one. A leading '+' is not a tag separator.
func stripPlus(local string) (string, bool) {
	i := strings.IndexByte(local, '+')
	if i <= 0 {
		return local, false
	}
	return local[:i], true
}
