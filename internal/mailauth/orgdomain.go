package mailauth

import "strings"

// twoLevelSuffixes are common public suffixes of two labels. The module
// cache has no golang.org/x/net/publicsuffix, so OrgDomain approximates
// the Public Suffix List (RFC 7489 §3.2) with "last two labels", or three
// under these suffixes. A domain under an unlisted multi-label suffix
// gets a too-short organizational domain: relaxed alignment then compares
// at the suffix, which can only make unrelated domains look aligned when
// both sit under that same suffix.
var twoLevelSuffixes = map[string]bool{
	"co.uk": true, "org.uk": true, "ac.uk": true, "gov.uk": true, "me.uk": true,
	"com.cn": true, "net.cn": true, "org.cn": true, "gov.cn": true, "edu.cn": true, "ac.cn": true,
	"com.hk": true, "com.tw": true, "com.sg": true, "com.my": true,
	"com.au": true, "net.au": true, "org.au": true, "edu.au": true,
	"co.jp": true, "ne.jp": true, "or.jp": true, "ac.jp": true,
	"co.kr": true, "co.nz": true, "co.in": true, "co.za": true,
	"com.br": true, "com.mx": true, "com.ar": true, "com.tr": true,
}

// OrgDomain returns the organizational domain of d (lower case).
func OrgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	labels := strings.Split(d, ".")
	n := 2
	if len(labels) >= 3 && twoLevelSuffixes[strings.Join(labels[len(labels)-2:], ".")] {
		n = 3
	}
	if len(labels) <= n {
		return d
	}
	return strings.Join(labels[len(labels)-n:], ".")
}
