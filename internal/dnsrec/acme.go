package dnsrec

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/youju/youju/internal/dnsresolver"
)

// ACMEProblems says why an ACME CA could not validate names for this
// server (RFC 8555 §8.3, RFC 8737 §3: it connects to the addresses the
// names resolve to): a name without an address, or one whose addresses
// are not the server's (when server is known). It cannot tell whether
// ports 80 and 443 are reachable from the internet: that needs a probe
// from outside, which the caller says.
func ACMEProblems(ctx context.Context, r dnsresolver.Resolver, names []string, server []netip.Addr) []string {
	var out []string
	for _, n := range names {
		c := &checker{ctx: ctx, r: r}
		lctx, cancel := c.timeout()
		addrs, err := c.lookupHost(lctx, n)
		cancel()
		if err != nil || len(addrs) == 0 {
			out = append(out, fmt.Sprintf("%s has no address (%v): the CA cannot reach it; publish the records above (CNAME to the host name)", n, err))
			continue
		}
		if len(server) == 0 {
			continue
		}
		ok := slices.ContainsFunc(addrs, func(a string) bool {
			ip, err := netip.ParseAddr(a)
			return err == nil && slices.Contains(server, ip.Unmap())
		})
		if !ok {
			out = append(out, fmt.Sprintf("%s resolves to %s, not to this server: the CA would validate another machine", n, strings.Join(addrs, ", ")))
		}
	}
	return out
}
