package wire

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrBadMUTF7 is returned for a mailbox name that is not valid modified
// UTF-7 (RFC 3501 §5.1.3).
var ErrBadMUTF7 = errors.New("imap: invalid modified UTF-7 mailbox name")

// mutf7Alphabet is the modified base64 of RFC 3501 §5.1.3: "," replaces "/".
const mutf7Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var mutf7Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(mutf7Alphabet); i++ {
		t[mutf7Alphabet[i]] = int8(i)
	}
	return t
}()

// EncodeMUTF7 encodes a UTF-8 mailbox name in modified UTF-7 (RFC 3501
// §5.1.3): printable US-ASCII stands for itself, "&" becomes "&-", and every
// other run of characters is UTF-16BE in modified base64 between "&" and "-".
func EncodeMUTF7(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		// Collect the run of characters that must be encoded.
		j := i
		var units []uint16
		for j < len(s) && (s[j] < 0x20 || s[j] > 0x7e) {
			r, n := utf8.DecodeRuneInString(s[j:])
			j += n
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				units = append(units, uint16(r1), uint16(r2))
			} else {
				units = append(units, uint16(r))
			}
		}
		b.WriteByte('&')
		writeModBase64(&b, units)
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

func writeModBase64(b *strings.Builder, units []uint16) {
	var acc uint32
	bits := 0
	for _, u := range units {
		acc = acc<<16 | uint32(u)
		bits += 16
		for bits >= 6 {
			bits -= 6
			b.WriteByte(mutf7Alphabet[(acc>>bits)&0x3f])
		}
	}
	if bits > 0 {
		b.WriteByte(mutf7Alphabet[(acc<<(6-bits))&0x3f])
	}
}

// DecodeMUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It rejects
// what RFC 3501 §5.1.3 forbids: non-printable octets, unterminated shifts,
// base64 of printable ASCII, empty shifts other than "&-", adjacent shifts
// and non-zero padding bits.
func DecodeMUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrBadMUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	lastShiftEnd := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrBadMUTF7
		}
		enc := s[i+1 : i+1+end]
		if enc == "" {
			b.WriteByte('&')
			i++
			continue
		}
		if lastShiftEnd == i {
			return "", ErrBadMUTF7 // two adjacent encoded runs must be one
		}
		if err := decodeModBase64(&b, enc); err != nil {
			return "", err
		}
		i += 1 + end
		lastShiftEnd = i + 1
	}
	return b.String(), nil
}

func decodeModBase64(b *strings.Builder, enc string) error {
	var acc uint32
	bits := 0
	var units []uint16
	for i := 0; i < len(enc); i++ {
		v := mutf7Index[enc[i]]
		if v < 0 {
			return ErrBadMUTF7
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	if bits >= 6 || acc != 0 || len(units) == 0 {
		return ErrBadMUTF7
	}
	for i := 0; i < len(units); i++ {
		switch u := units[i]; {
		case u >= 0xd800 && u < 0xdc00:
			if i+1 >= len(units) || units[i+1] < 0xdc00 || units[i+1] > 0xdfff {
				return ErrBadMUTF7 // unpaired surrogate
			}
			i++
		case u >= 0xdc00 && u <= 0xdfff:
			return ErrBadMUTF7
		}
	}
	for _, r := range utf16.Decode(units) {
		if r >= 0x20 && r <= 0x7e {
			return ErrBadMUTF7 // printable ASCII must stand for itself
		}
		b.WriteRune(r)
	}
	return nil
}

func validUTF8(s string) bool { return utf8.ValidString(s) }
