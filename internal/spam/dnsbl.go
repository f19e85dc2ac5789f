package spam

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/youju/youju/internal/dnsresolver"
)

// DNSBLQuery is the name asked of zone about ip (RFC 5782 §2.1): the
// IPv4 octets reversed, or the 32 nibbles of an IPv6 address reversed.
func DNSBLQuery(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.", a[3], a[2], a[1], a[0])
	} else {
		a := ip.As16()
		const hex = "0123456789abcdef"
		for i := 15; i >= 0; i-- {
			b.WriteByte(hex[a[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[a[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(strings.TrimSuffix(zone, "."))
	return b.String()
}

// DNSBL answers, interpreted (RFC 5782 §2.1, §5).
const (
	NotListed = "clean"
	Listed    = "listed"
	// Refused: 127.255.255.0/24 is what Spamhaus answers when it refuses
	// the query (public resolver, over quota): not a listing.
	Refused = "refused"
	// Bogus: an answer outside 127.0.0.0/8 is not a listing (a
	// wildcarding resolver, an expired zone).
	Bogus = "bogus"
	Error = "error"
)

// LookupDNSBL asks zone about ip and interprets the A records.
func LookupDNSBL(ctx context.Context, r dnsresolver.Resolver, ip netip.Addr, zone string) (string, []string) {
	addrs, err := r.LookupIPAddr(ctx, DNSBLQuery(ip, zone))
	if err != nil {
		if dnsresolver.IsNotFound(err) {
			return NotListed, nil
		}
		return Error, nil
	}
	var codes []string
	result := NotListed
	for _, a := range addrs {
		v4 := a.IP.To4()
		switch {
		case v4 == nil || v4[0] != 127:
			if result == NotListed {
				result = Bogus
			}
		case v4[1] == 255 && v4[2] == 255:
			if result != Listed {
				result = Refused
			}
		default:
			// 127.0.0.2 and up (127.0.0.1 is never a listing, RFC
			// 5782 §5; some lists use 127.0.1.x and the like).
			if v4[1] == 0 && v4[2] == 0 && v4[3] < 2 {
				if result == NotListed {
					result = Bogus
				}
				continue
			}
			result = Listed
			codes = append(codes, v4.String())
		}
	}
	return result, codes
}

// dnsbl asks every configured zone (one after the other: a listing on
// the first is enough) and returns the first zone that lists ip.
func (c *Checker) dnsbl(ctx context.Context, ip netip.Addr) string {
	for _, zone := range c.DNSBLs {
		res, codes := LookupDNSBL(ctx, c.DNS, ip, zone)
		Checks.With("dnsbl", res).Inc()
		if res == Listed {
			_ = codes
			return zone
		}
	}
	return ""
}

// fcrdns checks forward-confirmed reverse DNS: a name of the address
// whose own addresses include it (RFC 8601 §2.7.3 "iprev").
func (cc *Conn) fcrdns(ctx context.Context) {
	names, err := cc.c.DNS.LookupAddr(ctx, cc.ip.String())
	if err != nil && !dnsresolver.IsNotFound(err) {
		Checks.With("fcrdns", "error").Inc()
		return // temporary: no score
	}
	if len(names) == 0 {
		Checks.With("fcrdns", "noptr").Inc()
		cc.score.Add("NO_PTR", ScoreNoPTR)
		return
	}
	for i, n := range names {
		if i == 10 { // bound the work a hostile PTR set can cause
			break
		}
		addrs, err := cc.c.DNS.LookupIPAddr(ctx, n)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == cc.ip {
				Checks.With("fcrdns", "pass").Inc()
				return
			}
		}
	}
	Checks.With("fcrdns", "fail").Inc()
	cc.score.Add("NO_FCRDNS", ScoreNoFCrDNS)
}
