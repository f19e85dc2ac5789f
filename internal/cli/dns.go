package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dkimkeys"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/store"
)

const dnsUsage = "dns [check] [--data DIR] [--ip ADDR] [--ipv6 ADDR] [--resolver HOST[:PORT]] [--mta-sts-mode none|testing|enforce] [DOMAIN]"

// newDNSResolver makes the resolver of 'youju dns check'.
var newDNSResolver = dnsresolver.New

// runDNS prints the records a domain needs ("youju dns DOMAIN") or checks
// them in DNS ("youju dns check DOMAIN").
func runDNS(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "dns", dnsUsage)
	var v4, v6 addrList
	fs.Var(&v4, "ip", "the server's public IPv4 address (repeatable)")
	fs.Var(&v6, "ipv6", "the server's public IPv6 address (repeatable)")
	resolver := fs.String("resolver", "", "DNS server for check, e.g. 1.1.1.1 (default: the system's)")
	stsMode := fs.String("mta-sts-mode", "", "MTA-STS mode: none, testing or enforce (default: [outbound] mta_sts, what the web listener serves)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	check := len(rest) > 0 && rest[0] == "check"
	if check {
		rest = rest[1:]
	}
	if err := wantArgs(rest, 0, 1, dnsUsage); err != nil {
		return err
	}
	switch *stsMode {
	case "", config.MTASTSNone, config.MTASTSTesting, config.MTASTSEnforce:
	default:
		return usagef("--mta-sts-mode must be none, testing or enforce")
	}
	var r dnsresolver.Resolver
	if check {
		if r, err = newDNSResolver(*resolver); err != nil {
			return usagef("--resolver: %v", err)
		}
	}
	var p dnsrec.Params
	var warnings []string
	err = withStore(ctx, *data, func(c config.Config, st store.Accounts) error {
		domain := c.Domain
		if len(rest) == 1 {
			domain = strings.ToLower(strings.TrimSuffix(rest[0], "."))
		}
		if ok, err := st.IsLocalDomain(ctx, domain); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%s is not a domain of this server: add it first with 'youju domain add %s'", domain, domain)
		}
		mode := c.Outbound.MTASTS
		if *stsMode != "" && *stsMode != mode {
			// The served policy follows the configuration: a record for
			// another mode would carry an id= of a policy nobody serves.
			fmt.Fprintf(e.stderr, "youju: warning: --mta-sts-mode %s differs from [outbound] mta_sts = %q, which the web listener serves; set it there\n", *stsMode, mode)
			mode = *stsMode
		}
		p = dnsParams(c, domain, v4, v6, mode)
		if w := hostnameWarning(c.Hostname); w != "" {
			warnings = append(warnings, w)
		}
		if w := postmasterWarning(ctx, *data, st, domain); w != "" {
			warnings = append(warnings, w)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if p.DKIM, err = dkimRecords(e, *data, p.Domain, !check); err != nil {
		return err
	}
	recs := dnsrec.Records(p)
	if check {
		warnings = append(warnings, ptrWarnings(ctx, r, p.Hostname, append(v4, v6...))...)
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "youju: warning: %s\n", w)
	}
	if !check {
		fmt.Fprintf(e.stdout, "; DNS records for %s, served by %s. Paste them into the zone of %s\n", p.Domain, p.Hostname, p.Domain)
		fmt.Fprintf(e.stdout, "; (or enter them one by one in your DNS provider's web form). Then run: youju dns check %s\n", p.Domain)
		fmt.Fprintf(e.stdout, "; Also ask your hosting provider to set the PTR (reverse DNS) of the server's address to %s.\n\n", p.Hostname)
		fmt.Fprint(e.stdout, dnsrec.Zone(recs))
		return nil
	}
	results := dnsrec.Check(ctx, r, recs)
	bad := dnsrec.Report(e.stdout, results)
	reportACME(ctx, e, *data, r, p, append(v4, v6...))
	if bad > 0 {
		return fmt.Errorf("%d DNS record(s) of %s need attention (see above)", bad, p.Domain)
	}
	return nil
}

// dnsParams gathers what the records depend on from the configuration.
func dnsParams(c config.Config, domain string, v4, v6 addrList, stsMode string) dnsrec.Params {
	p := dnsrec.Params{Domain: domain, Hostname: c.Hostname, Settings: clientconf.Settings(c, c.Hostname), MTASTSMode: stsMode}
	// Sort by family whatever the flag, so --ip 2001:db8::1 does the right thing.
	for _, a := range append(v4, v6...) {
		if a.Is4() {
			p.IPv4 = append(p.IPv4, a)
		} else {
			p.IPv6 = append(p.IPv6, a)
		}
	}
	if addr, err := c.Address(c.Listeners.HTTPS); err == nil && addr != "" {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			p.HTTPSPort, _ = strconv.Atoi(port)
		}
	}
	return p
}

// dkimRecords loads the domain's DKIM keys; when printing, keys missing
// (a domain added before DKIM keys existed) are created first.
func dkimRecords(e *env, dataDir, domain string, create bool) ([]dnsrec.DKIM, error) {
	keys, err := dkimkeys.Load(dataDir, domain)
	if errors.Is(err, dkimkeys.ErrNoKeys) && create {
		if err := dkimkeys.Generate(dataDir, domain); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "youju: created DKIM keys for %s in %s\n", domain, dkimkeys.Dir(dataDir, domain))
		keys, err = dkimkeys.Load(dataDir, domain)
	}
	if errors.Is(err, dkimkeys.ErrNoKeys) {
		fmt.Fprintf(e.stderr, "youju: %s has no DKIM keys yet; 'youju dns %s' creates them\n", domain, domain)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]dnsrec.DKIM, len(keys))
	for i, k := range keys {
		out[i] = dnsrec.DKIM{Selector: k.Selector, Value: k.DNSValue}
	}
	return out, nil
}

// addrList is a repeatable flag of IP addresses.
type addrList []netip.Addr

func (a *addrList) String() string {
	s := make([]string, len(*a))
	for i, x := range *a {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (a *addrList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		x, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("%q is not an IP address", part)
		}
		*a = append(*a, x.Unmap())
	}
	return nil
}
