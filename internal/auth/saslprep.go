package auth

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// errSASLprep is a string that the SASLprep profile prohibits.
var errSASLprep = errors.New("auth: string prohibited by SASLprep")

// saslPrep prepares s with the SASLprep profile (RFC 4013) of stringprep
// (RFC 3454), as SCRAM requires for user names and passwords (RFC 5802
// §2.2, §5.1).
//
// Why SASLprep and not PRECIS (golang.org/x/text/secure/precis, RFC 8265,
// which obsoletes SASLprep for new protocols): SCRAM's keys are a function
// of the prepared password, so the server must prepare it exactly as
// clients do, and clients follow RFC 5802 (libgsasl, Cyrus SASL, libpq,
// Python's scramp all use SASLprep). PRECIS OpaqueString normalizes with NFC
// where SASLprep uses NFKC: a password with full-width characters, as a
// Chinese input method types them ("Ａ" U+FF21), would give other keys than
// the client computes, and the login would fail.
//
// stored selects the "stored string" rules (RFC 3454 §7: unassigned code
// points prohibited) used for a password when its keys are made; a user
// name received from a client is a query string (RFC 5802 §5.1). We know
// assignment from Go's Unicode tables (newer than stringprep's Unicode 3.2),
// so a stored string may contain characters assigned since: a client that
// knows only 3.2 would refuse such a password on its side anyway.
func saslPrep(s string, stored bool) (string, error) {
	if isPlainASCII(s) { // nothing maps, NFKC is the identity, nothing prohibited
		return s, nil
	}
	if !utf8.ValidString(s) { // also rules out surrogates (C.5)
		return "", errSASLprep
	}
	// RFC 4013 §2.1: map non-ASCII spaces (C.1.2) to SPACE and the
	// "commonly mapped to nothing" characters (B.1) to nothing.
	var b strings.Builder
	for _, r := range s {
		switch {
		case mappedToNothing(r):
		case nonASCIISpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	// RFC 4013 §2.2: Unicode normalization form KC.
	out := norm.NFKC.String(b.String())
	// RFC 4013 §2.3, §2.5: prohibited output and unassigned code points.
	var hasRandAL, hasL bool
	for _, r := range out {
		if prohibited(r) || stored && !assigned(r) {
			return "", errSASLprep
		}
		switch bidiClass(r) {
		case bidi.R, bidi.AL:
			hasRandAL = true
		case bidi.L:
			hasL = true
		}
	}
	// RFC 4013 §2.4, RFC 3454 §6: a string with right-to-left characters
	// contains no left-to-right ones and begins and ends with one.
	if hasRandAL {
		first, _ := utf8.DecodeRuneInString(out)
		last, _ := utf8.DecodeLastRuneInString(out)
		if hasL || !isRandAL(first) || !isRandAL(last) {
			return "", errSASLprep
		}
	}
	return out, nil
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func bidiClass(r rune) bidi.Class {
	p, _ := bidi.LookupRune(r)
	return p.Class()
}

func isRandAL(r rune) bool {
	c := bidiClass(r)
	return c == bidi.R || c == bidi.AL
}

// mappedToNothing is RFC 3454 table B.1.
func mappedToNothing(r rune) bool {
	switch r {
	case 0x00AD, 0x034F, 0x1806, 0x180B, 0x180C, 0x180D, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF:
		return true
	}
	return r >= 0xFE00 && r <= 0xFE0F
}

// nonASCIISpace is RFC 3454 table C.1.2.
func nonASCIISpace(r rune) bool {
	switch r {
	case 0x00A0, 0x1680, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200B
}

// prohibited is RFC 4013 §2.3: tables C.1.2 and C.2.1 to C.9 of RFC 3454.
func prohibited(r rune) bool {
	switch {
	case nonASCIISpace(r),
		r < 0x20 || r == 0x7F,  // C.2.1
		r >= 0x80 && r <= 0x9F, // C.2.2
		r == 0x06DD, r == 0x070F, r == 0x180E, r == 0x200C, r == 0x200D, r == 0x2028, r == 0x2029,
		r >= 0x2060 && r <= 0x2063, r >= 0x206A && r <= 0x206F, r == 0xFEFF,
		r >= 0xFFF9 && r <= 0xFFFC, r >= 0x1D173 && r <= 0x1D17A,
		r >= 0xE000 && r <= 0xF8FF, r >= 0xF0000 && r <= 0xFFFFD, r >= 0x100000 && r <= 0x10FFFD, // C.3
		r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE, // C.4
		r >= 0xD800 && r <= 0xDFFF,                                                     // C.5
		r >= 0xFFF9 && r <= 0xFFFD,                                                     // C.6
		r >= 0x2FF0 && r <= 0x2FFB,                                                     // C.7
		r == 0x0340, r == 0x0341, r == 0x200E, r == 0x200F, r >= 0x202A && r <= 0x202E, // C.8
		r == 0xE0001, r >= 0xE0020 && r <= 0xE007F: // C.9
		return true
	}
	return false
}

// assigned reports whether Go's Unicode tables assign r (general category
// other than Cn). unicode.C is not used: Go's table of "Other" includes the
// unassigned code points.
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}
