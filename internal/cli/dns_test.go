package cli

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/youju/youju/internal/dnsrec"
)

// emptyDNS knows no name at all: every lookup is NXDOMAIN.
type emptyDNS struct{}

func nxdomain(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (emptyDNS) LookupMX(_ context.Context, n string) ([]*net.MX, error) { return nil, nxdomain(n) }
func (emptyDNS) LookupTXT(_ context.Context, n string) ([]string, error) { return nil, nxdomain(n) }
func (emptyDNS) LookupHost(_ context.Context, n string) ([]string, error) {
	return nil, nxdomain(n)
}
func (emptyDNS) LookupSRV(_ context.Context, s, p, n string) (string, []*net.SRV, error) {
	return "", nil, nxdomain(n)
}
func (emptyDNS) LookupCNAME(_ context.Context, n string) (string, error) { return "", nxdomain(n) }

func TestDNSPrintAndCheck(t *testing.T) {
	dir := newData(t)
	mustRun(t, "", "domain", "add", "--data", dir, "example.org")
	out := mustRun(t, "", "dns", "--data", dir, "--ip", "203.0.113.10", "example.org")
	for _, want := range []string{
		"example.org.", "MX", "mail.example.test.", "203.0.113.10", "v=spf1", "y1e._domainkey.example.org.",
		"y1r._domainkey.example.org.", "_dmarc.example.org.", "_imaps._tcp.example.org.", "_submissions._tcp.example.org.",
		"autoconfig.example.org.", "_mta-sts.example.org.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("youju dns output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := run(t, "", "dns", "--data", dir, "notours.test"); code != 1 || !strings.Contains(errs, "not a domain of this server") {
		t.Errorf("dns for a foreign domain: %d %q", code, errs)
	}

	old := newDNSResolver
	newDNSResolver = func(string) dnsrec.Resolver { return emptyDNS{} }
	defer func() { newDNSResolver = old }()
	code, out, errs := run(t, "", "dns", "check", "--data", dir, "example.org")
	if code != 1 || !strings.Contains(errs, "need attention") {
		t.Fatalf("dns check with nothing published: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "MX") || !strings.Contains(strings.ToUpper(out), "MISSING") {
		t.Errorf("dns check does not report the missing MX:\n%s", out)
	}
}
