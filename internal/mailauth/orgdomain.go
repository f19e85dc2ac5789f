package mailauth

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// OrgDomain returns the organizational domain of d (lower case): the
// public suffix of d plus one label (RFC 7489 §3.2), the suffix taken from
// the Public Suffix List that golang.org/x/net/publicsuffix compiles in
// (its ICANN and private sections both: a name under github.io belongs
// to its own organisation, not to GitHub). A name that is itself a
// public suffix, or that the list cannot place, is its own
// organizational domain.
func OrgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	od, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return od
}
