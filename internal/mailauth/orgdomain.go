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
func OrgDomain(d string) string { return orgDomains.get(d) }

// orgDomains keeps the answers of OrgDomain: DMARC asks it several times
// per message, mostly of the same few domains, and the list is compiled
// in, so an answer never changes. A domain name is at most 253 bytes
// (RFC 1035 §2.3.4), with its final dot 254.
var orgDomains = newParseCache(4096, 254, orgDomain)

func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	od, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return strings.Clone(d) // kept: not a part of the caller's string
	}
	return strings.Clone(od)
}
