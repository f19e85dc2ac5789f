package dnsrec

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/dnsresolver"
)

// ips makes the addresses of a fake A/AAAA answer.
func ips(addrs ...string) []net.IPAddr {
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: net.ParseIP(a)}
	}
	return out
}

const rsaValue = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" +
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIDAQAB"

func params() Params {
	c := config.Default("example.test")
	return Params{
		Domain: "example.test", Hostname: "mail.example.test",
		IPv4:     []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		Settings: clientconf.Settings(c, "mail.example.test"),
		DKIM: []DKIM{
			{Selector: "y1e", Value: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
			{Selector: "y1r", Value: rsaValue},
		},
	}
}

// goodZone is written by hand (not from Records) so that the test is an
// independent reading of what the records should be. It is a zone in
// memory: no test ever asks real DNS.
func goodZone() *dnsresolver.Fake {
	policyID := MTASTSID(MTASTSPolicy("", "mail.example.test"))
	return &dnsresolver.Fake{
		MX: map[string][]*net.MX{"example.test": {{Host: "mail.example.test.", Pref: 10}}},
		IP: map[string][]net.IPAddr{"mail.example.test": ips("192.0.2.10", "2001:db8::10")},
		TXT: map[string][]string{
			"example.test":                {"google-site-verification=abc", "v=spf1 mx -all"},
			"mail.example.test":           {"v=spf1 a -all"},
			"y1e._domainkey.example.test": {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
			"y1r._domainkey.example.test": {rsaValue}, // Go joins the 255-byte strings
			"_dmarc.example.test":         {"v=DMARC1; p=reject; rua=mailto:dmarc@example.test"},
			"_mta-sts.example.test":       {"v=STSv1; id=" + policyID},
			"_smtp._tls.example.test":     {"v=TLSRPTv1; rua=mailto:tls@example.test"},
		},
		SRV: map[string][]*net.SRV{
			"_imaps._tcp.example.test":        {{Target: "mail.example.test.", Port: 993}},
			"_imap._tcp.example.test":         {{Target: "mail.example.test.", Port: 143, Priority: 10}},
			"_pop3s._tcp.example.test":        {{Target: "mail.example.test.", Port: 995, Priority: 20}},
			"_pop3._tcp.example.test":         {{Target: "mail.example.test.", Port: 110, Priority: 30}},
			"_submissions._tcp.example.test":  {{Target: "mail.example.test.", Port: 465}},
			"_submission._tcp.example.test":   {{Target: "mail.example.test.", Port: 587, Priority: 10}},
			"_autodiscover._tcp.example.test": {{Target: "mail.example.test.", Port: 443}},
		},
		CNAME: map[string]string{
			"autoconfig.example.test":   "mail.example.test",
			"autodiscover.example.test": "mail.example.test",
			"mta-sts.example.test":      "mail.example.test",
		},
	}
}

func find(t *testing.T, rs []Result, typ, name string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Record.Type == typ && r.Record.Name == name {
			return r
		}
	}
	t.Fatalf("no result for %s %s", typ, name)
	return Result{}
}

func TestAllOK(t *testing.T) {
	rs := Check(context.Background(), goodZone(), Records(params()))
	if len(rs) < 20 {
		t.Fatalf("only %d records checked", len(rs))
	}
	for _, r := range rs {
		// No AAAA was asked for: the optional placeholder is fine either way.
		if r.Status != OK {
			t.Errorf("%s %s: %v %s (found %q)", r.Record.Type, r.Record.Name, r.Status, r.Problem, r.Found)
		}
	}
}

func TestEachWrongRecordGivesAdvice(t *testing.T) {
	cases := []struct {
		name     string
		break_   func(z *dnsresolver.Fake)
		typ, rec string
		status   Status
		problem  string // substring
		fix      string // substring
	}{
		{"no MX", func(z *dnsresolver.Fake) { delete(z.MX, "example.test") }, "MX", "example.test.", Missing, "no such record", "MX\t10 mail.example.test."},
		{"MX elsewhere", func(z *dnsresolver.Fake) { z.MX["example.test"] = []*net.MX{{Host: "mx.other.test.", Pref: 5}} }, "MX", "example.test.", Wrong, "point elsewhere", "MX 10 mail.example.test."},
		{"null MX", func(z *dnsresolver.Fake) { z.MX["example.test"] = []*net.MX{{Host: "."}} }, "MX", "example.test.", Wrong, "null MX", "MX 10"},
		{"A wrong", func(z *dnsresolver.Fake) { z.IP["mail.example.test"] = ips("198.51.100.1") }, "A", "mail.example.test.", Wrong, "does not resolve to 192.0.2.10", "192.0.2.10"},
		{"no SPF", func(z *dnsresolver.Fake) { z.TXT["example.test"] = []string{"other"} }, "TXT", "example.test.", Missing, "no v=spf1", "v=spf1 mx -all"},
		{"two SPF", func(z *dnsresolver.Fake) { z.TXT["example.test"] = []string{"v=spf1 mx -all", "v=spf1 a -all"} }, "TXT", "example.test.", Wrong, "RFC 7208", "exactly one"},
		{"SPF +all", func(z *dnsresolver.Fake) { z.TXT["example.test"] = []string{"v=spf1 mx +all"} }, "TXT", "example.test.", Wrong, "lets anyone", "-all"},
		{"SPF without host", func(z *dnsresolver.Fake) { z.TXT["example.test"] = []string{"v=spf1 -all"} }, "TXT", "example.test.", Wrong, "does not allow", "'mx'"},
		{"SPF soft end", func(z *dnsresolver.Fake) { z.TXT["example.test"] = []string{"v=spf1 mx"} }, "TXT", "example.test.", Warn, "does not end", "-all"},
		{"DKIM other key", func(z *dnsresolver.Fake) {
			z.TXT["y1r._domainkey.example.test"] = []string{"v=DKIM1; k=rsa; p=MIIBother"}
		}, "TXT", "y1r._domainkey.example.test.", Wrong, "not youju's key", `" "`},
		{"DKIM missing", func(z *dnsresolver.Fake) { delete(z.TXT, "y1e._domainkey.example.test") }, "TXT", "y1e._domainkey.example.test.", Missing, "no such record", "k=ed25519"},
		{"DKIM revoked", func(z *dnsresolver.Fake) { z.TXT["y1e._domainkey.example.test"] = []string{"v=DKIM1; p="} }, "TXT", "y1e._domainkey.example.test.", Wrong, "revoked", "k=ed25519"},
		{"DMARC none", func(z *dnsresolver.Fake) { z.TXT["_dmarc.example.test"] = []string{"v=DMARC1; p=none"} }, "TXT", "_dmarc.example.test.", Warn, "only monitors", "p=quarantine"},
		{"DMARC no p", func(z *dnsresolver.Fake) { z.TXT["_dmarc.example.test"] = []string{"v=DMARC1; rua=mailto:x@y"} }, "TXT", "_dmarc.example.test.", Wrong, "no valid p=", "v=DMARC1; p=quarantine"},
		{"MTA-STS old id", func(z *dnsresolver.Fake) { z.TXT["_mta-sts.example.test"] = []string{"v=STSv1; id=old"} }, "TXT", "_mta-sts.example.test.", Warn, "id=old", "set id="},
		{"MTA-STS no id", func(z *dnsresolver.Fake) { z.TXT["_mta-sts.example.test"] = []string{"v=STSv1;"} }, "TXT", "_mta-sts.example.test.", Wrong, "no id=", "v=STSv1; id="},
		{"TLS-RPT missing (optional)", func(z *dnsresolver.Fake) { delete(z.TXT, "_smtp._tls.example.test") }, "TXT", "_smtp._tls.example.test.", Warn, "no such record", "v=TLSRPTv1"},
		{"TLS-RPT no rua", func(z *dnsresolver.Fake) { z.TXT["_smtp._tls.example.test"] = []string{"v=TLSRPTv1;"} }, "TXT", "_smtp._tls.example.test.", Wrong, "rua", "rua=mailto"},
		{"SRV wrong port", func(z *dnsresolver.Fake) { z.SRV["_imaps._tcp.example.test"][0].Port = 994 }, "SRV", "_imaps._tcp.example.test.", Wrong, "port 993", "0 1 993 mail.example.test."},
		{"SRV missing", func(z *dnsresolver.Fake) { delete(z.SRV, "_submissions._tcp.example.test") }, "SRV", "_submissions._tcp.example.test.", Missing, "no such record", "465 mail.example.test."},
		{"CNAME elsewhere", func(z *dnsresolver.Fake) {
			z.CNAME["autoconfig.example.test"] = "web.other.test"
			z.IP["web.other.test"] = ips("203.0.113.5")
		}, "CNAME", "autoconfig.example.test.", Wrong, "does not lead", "CNAME mail.example.test."},
		{"CNAME missing", func(z *dnsresolver.Fake) { delete(z.CNAME, "mta-sts.example.test") }, "CNAME", "mta-sts.example.test.", Missing, "no such record", "CNAME\tmail.example.test."},
		{"lookup fails", func(z *dnsresolver.Fake) { z.Err = errors.New("i/o timeout") }, "MX", "example.test.", Failed, "i/o timeout", "resolver"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z := goodZone()
			tc.break_(z)
			r := find(t, Check(context.Background(), z, Records(params())), tc.typ, tc.rec)
			if r.Status != tc.status || !strings.Contains(r.Problem, tc.problem) || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("got %v problem %q fix %q; want %v, %q, %q", r.Status, r.Problem, r.Fix, tc.status, tc.problem, tc.fix)
			}
		})
	}
}

func TestCNAMEAsAddressRecordsIsOK(t *testing.T) {
	z := goodZone()
	delete(z.CNAME, "autodiscover.example.test")
	z.IP["autodiscover.example.test"] = ips("192.0.2.10")
	r := find(t, Check(context.Background(), z, Records(params())), "CNAME", "autodiscover.example.test.")
	if r.Status != OK {
		t.Errorf("A records with the host's address: %v %s", r.Status, r.Problem)
	}
}

func TestOffServiceAndPlaceholder(t *testing.T) {
	p := params()
	p.IPv4 = nil
	c := config.Default("example.test")
	c.Listeners.POP3 = "off"
	c.PortOffset = 10000
	p.Settings = clientconf.Settings(c, "mail.example.test")
	rs := Records(p)
	zone := Zone(rs)
	for _, want := range []string{
		"mail.example.test.\t3600\tIN\tA\t" + PlaceholderIPv4,
		"EDIT BEFORE PUBLISHING",
		"_pop3._tcp.example.test.\t3600\tIN\tSRV\t0 0 0 .",
		"_imaps._tcp.example.test.\t3600\tIN\tSRV\t0 1 10993 mail.example.test.",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone lacks %q:\n%s", want, zone)
		}
	}
	z := goodZone()
	delete(z.IP, "mail.example.test")
	res := find(t, Check(context.Background(), z, rs), "A", "mail.example.test.")
	if res.Status != Missing || !strings.Contains(res.Fix, "real address") {
		t.Errorf("placeholder A missing: %+v", res)
	}
	// The off service published as available is wrong.
	res = find(t, Check(context.Background(), z, rs), "SRV", "_pop3._tcp.example.test.")
	if res.Status != Wrong || !strings.Contains(res.Fix, "SRV 0 0 0 .") {
		t.Errorf("off service: %+v", res)
	}
}

func TestQuoteTXTSplits(t *testing.T) {
	q := QuoteTXT(rsaValue)
	parts := strings.Split(q, `" "`)
	if len(parts) < 2 {
		t.Fatalf("not split: %s", q)
	}
	joined := strings.Trim(strings.Join(parts, ""), `"`)
	if joined != rsaValue {
		t.Errorf("split value does not join back")
	}
	for _, p := range parts {
		if n := len(strings.Trim(p, `"`)); n > 255 {
			t.Errorf("string of %d bytes", n)
		}
	}
	if got := QuoteTXT(`a"b\c`); got != `"a\"b\\c"` {
		t.Errorf("escaping: %s", got)
	}
}

func TestMTASTSPolicy(t *testing.T) {
	p := MTASTSPolicy("", "Mail.Example.test.")
	want := "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
	if p != want {
		t.Errorf("policy %q", p)
	}
	id := MTASTSID(p)
	if id == MTASTSID(MTASTSPolicy(MTASTSEnforce, "mail.example.test")) || len(id) > 32 {
		t.Errorf("id %q must change with the policy and be at most 32 characters", id)
	}
}

func TestReport(t *testing.T) {
	z := goodZone()
	delete(z.MX, "example.test")
	var b strings.Builder
	bad := Report(&b, Check(context.Background(), z, Records(params())))
	out := b.String()
	if bad != 1 || !strings.Contains(out, "MISSING MX    example.test.") || !strings.Contains(out, "fix:     publish: example.test. 3600 IN MX 10 mail.example.test.") ||
		!strings.Contains(out, "OK      TXT   _dmarc.example.test.") || !strings.Contains(out, "1 record(s) need attention") {
		t.Errorf("bad=%d\n%s", bad, out)
	}
}

func TestOptionalAAAAAdvice(t *testing.T) {
	z := goodZone()
	z.IP["mail.example.test"] = ips("192.0.2.10")
	r := find(t, Check(context.Background(), z, Records(params())), "AAAA", "mail.example.test.")
	if r.Status != Warn || !strings.Contains(r.Fix, "if the server has a public IPv6") {
		t.Errorf("no IPv6: %+v", r)
	}
}
