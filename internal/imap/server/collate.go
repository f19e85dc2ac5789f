package server

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// casemapKey returns the sort key of s under the i;unicode-casemap
// collation that SORT uses (RFC 5256 §3, RFC 5051 §2): every character is
// replaced by its simple titlecase mapping, the result is decomposed with
// NFKD, and keys compare as octets of UTF-8 (strings.Compare). Titlecase
// is upper case for ASCII, so "[", "_" and "`" (0x5B-0x60) sort after the
// letters, as the RFC wants, not before them as with lower-casing.
func casemapKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // NFKD leaves ASCII alone
	}
	t := strings.Map(unicode.ToTitle, strings.ToValidUTF8(s, "\uFFFD"))
	return norm.NFKD.String(t)
}
