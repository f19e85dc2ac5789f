package message

import (
	"bytes"
	"errors"
	"strings"
)

// Header-section limits for a server receiving mail (RFC 5321 §4.5.3.1:
// a server may impose size limits). ReadHeader refuses more; the store's
// own parse (parseFields) never sees more from the SMTP server.
const (
	// DefaultMaxHeaderBytes bounds a message's header section, blank line
	// included. Real mail, Received chains and ARC sets included, stays
	// far below it.
	DefaultMaxHeaderBytes = 256 << 10
	// DefaultMaxHeaderContinuations bounds the continuation lines
	// (RFC 5322 §2.2.3 folding) of a header section: a To: list of a
	// thousand addresses, one per line, is a thousand.
	DefaultMaxHeaderContinuations = 10000
)

// Errors of ReadHeader.
var (
	ErrHeaderTooLarge  = errors.New("message: header section too large")
	ErrHeaderTooFolded = errors.New("message: header section has too many continuation lines")
)

// HeaderField is one field of a header section as it was written.
type HeaderField struct {
	// Name is the field name, without blanks before the colon.
	Name string
	// Raw is the whole field: name, colon, value, folding, final CRLF.
	Raw []byte
	// Value is what follows the colon, folded as written, final CRLF
	// included (RFC 5322 §2.2).
	Value []byte
	// Continuations counts the field's continuation lines (RFC 5322
	// §2.2.3).
	Continuations int
	// SpaceBeforeColon: blanks between name and colon, the obsolete
	// syntax of RFC 5322 §4.5 (obs-optional, obs-from...).
	SpaceBeforeColon bool
	// Malformed: no colon, or a name that is not RFC 5322 §2.2's
	// (printable US-ASCII except colon, at least one character).
	Malformed bool
}

// Header is a parsed top-level header section.
type Header struct {
	Fields []HeaderField
	// Size is the header section's length, the blank line included: the
	// body starts at msg[Size:].
	Size          int
	Continuations int
}

// HeaderLimits bound ReadHeader; a zero field takes the default above.
type HeaderLimits struct {
	MaxBytes         int
	MaxContinuations int
}

// ReadHeader splits the header section of msg (CRLF form, as
// NormalizeCRLF returns it) into its fields, in one linear pass and with
// the same field rules as the parse the store keeps (parseFields). A
// section larger than the limit, or with more continuation lines, is an
// error: nothing of it is looked at beyond the limit.
func ReadHeader(msg []byte, lim HeaderLimits) (*Header, error) {
	maxBytes := lim.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxHeaderBytes
	}
	maxCont := lim.MaxContinuations
	if maxCont <= 0 {
		maxCont = DefaultMaxHeaderContinuations
	}
	window := msg[:min(len(msg), maxBytes)]
	hdr, size := splitHeader(window, 0, len(window))
	if size == len(window) && len(msg) > maxBytes {
		// No blank line within the limit (or exactly at it, which
		// splitHeader cannot tell from a body-less message).
		return nil, ErrHeaderTooLarge
	}
	h := &Header{Size: size}
	for len(hdr) > 0 {
		var f HeaderField
		f.Raw, f.Continuations, hdr = splitField(hdr)
		h.Continuations += f.Continuations
		if h.Continuations > maxCont {
			return nil, ErrHeaderTooFolded
		}
		name, value, ok := bytes.Cut(f.Raw, []byte(":"))
		trimmed := bytes.TrimRight(name, " \t")
		f.Name, f.Value = string(trimmed), value
		f.SpaceBeforeColon = ok && len(trimmed) < len(name)
		f.Malformed = !ok || !validFieldName(trimmed)
		h.Fields = append(h.Fields, f)
	}
	return h, nil
}

// validFieldName: RFC 5322 §2.2, a field name is one or more printable
// US-ASCII characters (33-126) other than colon (ftext, §3.6.8).
func validFieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// splitField cuts the first field off a header: its first line and the
// continuation lines that follow (RFC 5322 §2.2.3). parseFields and
// ReadHeader share it, so they always agree where a field ends.
func splitField(hdr []byte) (field []byte, continuations int, rest []byte) {
	end := 0
	for {
		i := bytes.IndexByte(hdr[end:], '\n')
		if i < 0 {
			return hdr, continuations, nil
		}
		end += i + 1
		if end >= len(hdr) || (hdr[end] != ' ' && hdr[end] != '\t') {
			return hdr[:end], continuations, hdr[end:]
		}
		continuations++
	}
}

// Count returns how many fields are named name (case-insensitively, blanks
// before the colon ignored, as the store reads them).
func (h *Header) Count(name string) int {
	n := 0
	for i := range h.Fields {
		if strings.EqualFold(h.Fields[i].Name, name) {
			n++
		}
	}
	return n
}

// Get returns the unfolded value of the first field named name, as the
// store keeps it (its envelope takes the first occurrence).
func (h *Header) Get(name string) (string, bool) {
	for i := range h.Fields {
		if strings.EqualFold(h.Fields[i].Name, name) {
			return unfold(h.Fields[i].Value), true
		}
	}
	return "", false
}

// UnfoldValue is a field value unfolded and trimmed as Get returns it.
func UnfoldValue(v []byte) string { return unfold(v) }
