package spam

import (
	"net/netip"
	"strings"
)

// HELOScore scores the name a client gave in HELO/EHLO against its
// address. RFC 5321 §4.1.4 forbids refusing mail for a HELO that does
// not match, so this only scores; what it scores is what honest servers
// do not do: a bare word, someone else's address literal, our own name.
func (c *Checker) HELOScore(helo string, ip netip.Addr) Score {
	var s Score
	if !c.HELO {
		return s
	}
	h := strings.TrimSuffix(strings.ToLower(helo), ".")
	switch {
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		lit := strings.TrimPrefix(h[1:len(h)-1], "ipv6:")
		a, err := netip.ParseAddr(lit)
		if err != nil || a.Unmap() != ip.Unmap() {
			s.Add("HELO_LITERAL_MISMATCH", ScoreHELOLiteral)
		}
	case c.Local != nil && c.Local(h):
		s.Add("HELO_OURS", ScoreHELOOurs)
	case !strings.Contains(h, ".") || !validHostname(h):
		s.Add("HELO_NOT_FQDN", ScoreHELOBare)
	}
	if a, err := netip.ParseAddr(h); err == nil && a.IsValid() {
		// An address without brackets is not a domain (RFC 5321 §4.1.3).
		s = Score{}
		s.Add("HELO_BARE_IP", ScoreHELOBare)
	}
	result := "pass"
	if len(s.Reasons) > 0 {
		result = "suspect"
	}
	Checks.With("helo", result).Inc()
	return s
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= 0x80) {
				return false
			}
		}
	}
	return true
}
