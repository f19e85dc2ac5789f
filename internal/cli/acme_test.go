package cli

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsrec"
	"github.com/youju/youju/internal/dnsresolver"
)

func TestACMEWanted(t *testing.T) {
	pub := config.Default("youju.dev")
	offset := pub
	offset.PortOffset = 10000
	loop := pub
	loop.Listen = "127.0.0.1"
	own := pub
	own.TLS.Cert = "/etc/ssl/mail.pem"
	off := pub
	off.ACME.Mode = config.ACMEOff
	forced := config.Default("example.test")
	forced.ACME.Mode = config.ACMEOn
	local := config.Default("youju.dev")
	local.Hostname = "localhost"
	for _, tc := range []struct {
		name string
		c    config.Config
		dev  bool
		want bool
	}{
		{"public, standard ports", pub, false, true},
		{"--dev", pub, true, false},
		{"port offset", offset, false, false},
		{"loopback only", loop, false, false},
		{"own certificate", own, false, false},
		{"mode off", off, false, false},
		{"mode on for a test name", forced, false, true},
		{"localhost", local, false, false},
		{"reserved test domain", config.Default("example.test"), false, false},
	} {
		if got, why := acmeWanted(tc.c, tc.dev); got != tc.want {
			t.Errorf("%s: acmeWanted = %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
	if got := strings.Join(acmeChallenges(pub), ","); got != "http-01,tls-alpn-01" {
		t.Errorf("challenges on standard ports: %s", got)
	}
	https := pub
	https.Listeners.HTTP = "off"
	if got := strings.Join(acmeChallenges(https), ","); got != "tls-alpn-01" {
		t.Errorf("challenges without HTTP: %s", got)
	}
}

func TestACMEProblems(t *testing.T) {
	server := netip.MustParseAddr("203.0.113.10")
	r := &dnsresolver.Fake{
		IP:    map[string][]net.IPAddr{"mail.youju.dev": {{IP: net.ParseIP("203.0.113.10")}}, "autodiscover.youju.dev": {{IP: net.ParseIP("198.51.100.7")}}},
		CNAME: map[string]string{"autoconfig.youju.dev": "mail.youju.dev"},
	}
	probs := dnsrec.ACMEProblems(context.Background(), r,
		[]string{"mail.youju.dev", "autoconfig.youju.dev", "autodiscover.youju.dev", "mta-sts.youju.dev"}, []netip.Addr{server})
	all := strings.Join(probs, "\n")
	if len(probs) != 2 || !strings.Contains(all, "autodiscover.youju.dev resolves to 198.51.100.7, not to this server") ||
		!strings.Contains(all, "mta-sts.youju.dev has no address") {
		t.Errorf("problems:\n%s", all)
	}
}

func TestReportCommand(t *testing.T) {
	out := mustRun(t, "", "report", "../reports/testdata/dmarc.xml", "../reports/testdata/tlsrpt.json")
	if !strings.Contains(out, "dmarc  youju.dev  google.com") || !strings.Contains(out, "198.51.100.7") ||
		!strings.Contains(out, "tlsrpt youju.dev  Company-X") || !strings.Contains(out, "starttls-not-supported") {
		t.Errorf("report output:\n%s", out)
	}
	if code, out, _ := run(t, "", "report", "acme_test.go"); code != 1 || !strings.Contains(out, "neither a DMARC") {
		t.Errorf("a non-report file: exit %d\n%s", code, out)
	}
}
