package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/store"
)

// hostnameWarning says why host cannot be the public name of a mail
// server, "" if it can: other servers look it up (MX target, EHLO name,
// certificate, PTR), so it must be a fully qualified public name
// (RFC 5321 §2.3.5, §4.1.4).
func hostnameWarning(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".localdomain"):
		return fmt.Sprintf("the host name %q is local: other servers cannot reach it; set hostname in youju.toml to a public name such as mail.example.com", host)
	case !strings.Contains(h, "."):
		return fmt.Sprintf("the host name %q is not fully qualified (RFC 5321 §2.3.5): set hostname in youju.toml to a public name such as mail.example.com", host)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return fmt.Sprintf("the host name %q is an address, not a name: set hostname in youju.toml to a public name", host)
	}
	return ""
}

// postmasterWarning says why postmaster@domain cannot receive, "" if it
// can: an account or alias of that name, or the administrator named by
// 'youju postmaster' (RFC 5321 §4.5.1 requires the mailbox; our DMARC
// and TLS-RPT records send reports there).
func postmasterWarning(ctx context.Context, dataDir string, st store.Accounts, domain string) string {
	addr := "postmaster@" + domain
	if _, err := st.Account(ctx, addr); err == nil {
		return ""
	}
	if _, err := st.Alias(ctx, addr); err == nil {
		return ""
	}
	admin := readPostmaster(dataDir)
	if admin == "" {
		return addr + " cannot receive mail: no account or alias has that name and no administrator is set; run 'youju postmaster ADDRESS'"
	}
	if _, err := st.Account(ctx, admin); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("%s cannot receive mail: it goes to %s, which no longer exists; run 'youju postmaster ADDRESS'", addr, admin)
		}
		return fmt.Sprintf("%s: cannot check its administrator %s: %v", addr, admin, err)
	}
	return ""
}

// ptrWarnings checks the reverse DNS of the server's public addresses
// (ips; the host name's own addresses when none is given): many receivers
// refuse or score mail from an address whose PTR does not name the
// sending host (forward-confirmed reverse DNS, RFC 8601 §2.7.3 "iprev").
func ptrWarnings(ctx context.Context, r dnsresolver.Resolver, host string, ips []netip.Addr) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if len(ips) == 0 {
		addrs, err := r.LookupIPAddr(ctx, host)
		if err != nil {
			return []string{fmt.Sprintf("reverse DNS not checked: %s has no address (%v); pass --ip", host, err)}
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				ips = append(ips, ip.Unmap())
			}
		}
	}
	var out []string
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			out = append(out, fmt.Sprintf("%s is not a public address: other servers cannot connect to it", ip))
			continue
		}
		names, err := r.LookupAddr(ctx, ip.String())
		if err != nil || len(names) == 0 {
			out = append(out, fmt.Sprintf("%s has no PTR record: ask your hosting provider to set its reverse DNS to %s", ip, host))
			continue
		}
		match := false
		for _, n := range names {
			if strings.EqualFold(strings.TrimSuffix(n, "."), host) {
				match = true
			}
		}
		if !match {
			out = append(out, fmt.Sprintf("the PTR of %s is %s, not %s: ask your hosting provider to set it to %s", ip, strings.Join(names, ", "), host, host))
		}
	}
	return out
}
