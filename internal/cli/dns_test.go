package cli

import (
	"strings"
	"testing"

	"github.com/youju/youju/internal/dnsresolver"
)

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
	// An empty zone: every lookup is NXDOMAIN.
	newDNSResolver = func(string) (dnsresolver.Resolver, error) { return &dnsresolver.Fake{}, nil }
	defer func() { newDNSResolver = old }()
	code, out, errs := run(t, "", "dns", "check", "--data", dir, "example.org")
	if code != 1 || !strings.Contains(errs, "need attention") {
		t.Fatalf("dns check with nothing published: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "MX") || !strings.Contains(strings.ToUpper(out), "MISSING") {
		t.Errorf("dns check does not report the missing MX:\n%s", out)
	}
}
