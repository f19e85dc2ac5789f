// Package dnsresolver is the DNS seam of outbound delivery and inbound
// authentication checks: everything that asks DNS takes a Resolver, so that
// the running server can use the system resolver or a given DNS server, and
// tests a Fake with no network at all.
package dnsresolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Resolver is the subset of *net.Resolver that mail needs: delivery,
// inbound authentication and 'youju dns check'. Its first four methods are
// blitiri.com.ar/go/spf's DNSResolver, so a Resolver can be handed to
// spf.WithResolver unchanged.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	LookupCNAME(ctx context.Context, host string) (string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// New returns the system resolver if server is "", else a resolver that
// sends every query to server ("1.2.3.4" or "1.2.3.4:53", UDP with TCP
// fallback as the Go resolver does).
func New(server string) (Resolver, error) {
	if server == "" {
		return net.DefaultResolver, nil
	}
	addr := server
	if _, _, err := net.SplitHostPort(server); err != nil {
		addr = net.JoinHostPort(server, "53")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("dnsresolver: bad server address %q: %w", server, err)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}, nil
}

// Fake is an in-memory Resolver for tests. Names are matched without the
// trailing dot and case-insensitively. A name listed in Temp fails with a
// temporary error for every query type, and every lookup returns Err when
// it is set; an unknown name is "not found" (NXDOMAIN), as net.Resolver
// reports it.
type Fake struct {
	MX   map[string][]*net.MX
	IP   map[string][]net.IPAddr
	TXT  map[string][]string
	Addr map[string][]string // reverse: IP string -> names
	// SRV is keyed by the full owner name, "_imaps._tcp.example.org".
	SRV map[string][]*net.SRV
	// CNAME maps an alias to its target; LookupIPAddr follows it (one
	// level), as a resolver does.
	CNAME map[string]string
	Temp  map[string]bool
	Err   error
	// TTL is what the TTL lookups (TTLResolver) report for a name, for
	// every query type; a name not listed has TTL 0: not to be cached.
	TTL map[string]time.Duration
	// TLSA is keyed by the owner name, "_25._tcp.mx.example.org"; Secure
	// says which owner names answer with the AD bit (DNSSEC-validated).
	TLSA   map[string][]TLSA
	Secure map[string]bool
	// SecureRR says which MX and address RRsets validate (SecureResolver),
	// keyed "MX example.org", "A mx.example.org", "AAAA mx.example.org".
	SecureRR map[string]bool
}

var _ TLSAResolver = (*Fake)(nil)

// LookupTLSA implements TLSAResolver.
func (f *Fake) LookupTLSA(_ context.Context, name string) ([]TLSA, bool, error) {
	if err := f.fail(name); err != nil {
		return nil, false, err
	}
	if v, ok := f.TLSA[key(name)]; ok && len(v) > 0 {
		return v, f.Secure[key(name)], nil
	}
	return nil, f.Secure[key(name)], notFound(name)
}

var _ TTLResolver = (*Fake)(nil)

// LookupTXTTTL implements TTLResolver.
func (f *Fake) LookupTXTTTL(ctx context.Context, name string) ([]string, time.Duration, error) {
	v, err := f.LookupTXT(ctx, name)
	return v, f.TTL[key(name)], err
}

// LookupMXTTL implements TTLResolver.
func (f *Fake) LookupMXTTL(ctx context.Context, name string) ([]*net.MX, time.Duration, error) {
	v, err := f.LookupMX(ctx, name)
	return v, f.TTL[key(name)], err
}

// LookupIPAddrTTL implements TTLResolver.
func (f *Fake) LookupIPAddrTTL(ctx context.Context, host string) ([]net.IPAddr, time.Duration, error) {
	v, err := f.LookupIPAddr(ctx, host)
	return v, f.TTL[key(host)], err
}

func key(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (f *Fake) fail(name string) error {
	if f.Err != nil {
		return f.Err
	}
	if f.Temp[key(name)] {
		return &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return nil
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// LookupMX implements Resolver.
func (f *Fake) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if err := f.fail(name); err != nil {
		return nil, err
	}
	if v, ok := f.MX[key(name)]; ok {
		return v, nil
	}
	return nil, notFound(name)
}

// LookupIPAddr implements Resolver.
func (f *Fake) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if err := f.fail(host); err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil {
		return []net.IPAddr{{IP: ip}}, nil
	}
	if c, ok := f.CNAME[key(host)]; ok {
		host = c
	}
	if v, ok := f.IP[key(host)]; ok {
		return v, nil
	}
	return nil, notFound(host)
}

// LookupTXT implements Resolver.
func (f *Fake) LookupTXT(_ context.Context, name string) ([]string, error) {
	if err := f.fail(name); err != nil {
		return nil, err
	}
	if v, ok := f.TXT[key(name)]; ok {
		return v, nil
	}
	return nil, notFound(name)
}

// LookupAddr implements Resolver.
func (f *Fake) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if err := f.fail(addr); err != nil {
		return nil, err
	}
	if v, ok := f.Addr[addr]; ok {
		return v, nil
	}
	return nil, notFound(addr)
}

// LookupSRV implements Resolver. As in net.Resolver.LookupSRV, an empty
// service and proto look name up directly.
func (f *Fake) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if service != "" || proto != "" {
		name = "_" + service + "._" + proto + "." + name
	}
	if err := f.fail(name); err != nil {
		return "", nil, err
	}
	if v, ok := f.SRV[key(name)]; ok {
		return key(name) + ".", v, nil
	}
	return "", nil, notFound(name)
}

// LookupCNAME implements Resolver. Like net.Resolver, a name without a
// CNAME but with addresses is its own canonical name.
func (f *Fake) LookupCNAME(_ context.Context, host string) (string, error) {
	if err := f.fail(host); err != nil {
		return "", err
	}
	if c, ok := f.CNAME[key(host)]; ok {
		return key(c) + ".", nil
	}
	if _, ok := f.IP[key(host)]; ok {
		return key(host) + ".", nil
	}
	return "", notFound(host)
}

// IsNotFound reports whether err means the name or record does not exist
// (as opposed to a temporary failure).
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
