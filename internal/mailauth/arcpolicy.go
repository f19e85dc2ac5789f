package mailauth

import (
	"slices"
	"strings"
)

// TrustARC applies the local policy for forwarded mail (RFC 7489 §6.7
// lets a receiver override the DMARC policy; RFC 8617 §7.2 names ARC as
// the evidence): a message whose DMARC check failed, whose ARC chain
// passes and whose newest sealer is one of sealers (domain names, e.g.
// the mailing lists and forwarders the users rely on) is neither
// rejected nor put in Junk for that failure. The Authentication-Results
// field still says dmarc=fail and arc=pass. It reports whether it
// overrode the verdict.
func (v *Verdict) TrustARC(sealers []string) bool {
	if v.DMARC.Result != "fail" || v.ARC.Result != arcPass || (!v.Reject && !v.Junk) {
		return false
	}
	trusted := slices.ContainsFunc(sealers, func(s string) bool {
		return strings.EqualFold(strings.TrimSuffix(s, "."), v.ARC.Sealer)
	})
	if !trusted {
		return false
	}
	v.Reject, v.Junk = false, false
	return true
}
