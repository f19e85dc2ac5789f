// Package dnsrec knows the DNS records a youju mail domain needs (MX, the
// mail host's addresses, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, the client
// SRV records of RFC 6186/8314 and the autoconfig names), prints them in
// zone-file syntax, and checks what a resolver answers against them.
package dnsrec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/clientconf"
)

// TTL of every printed record: an hour is short enough to fix mistakes.
const TTL = 3600

// Placeholders printed when the server's addresses are not given; they are
// not valid addresses, so a zone with them is refused until edited.
const (
	PlaceholderIPv4 = "YOUR.IPV4.ADDRESS"
	PlaceholderIPv6 = "YOUR:IPV6::ADDRESS"
)

// MTA-STS policy modes (RFC 8461 §5).
const (
	MTASTSTesting = "testing"
	MTASTSEnforce = "enforce"
)

// mtaSTSMaxAge is the policy lifetime in seconds: one week. RFC 8461 §3.2
// allows up to a year; a week lets a mistake heal.
const mtaSTSMaxAge = 604800

// DKIM is one published DKIM key (see internal/dkimkeys).
type DKIM struct {
	Selector string
	Value    string // "v=DKIM1; k=...; p=..."
}

// Params describe the domain and its server.
type Params struct {
	Domain   string // the mail domain, e.g. example.com
	Hostname string // the mail server, e.g. mail.example.com
	// IPv4 and IPv6 are the server's public addresses; none given prints
	// a clearly marked placeholder for IPv4 and leaves IPv6 out.
	IPv4, IPv6 []netip.Addr
	// Settings are the client listeners (clientconf.Settings), for SRV.
	Settings []clientconf.Entry
	// HTTPSPort is the port of the web listener (0: 443), for
	// _autodiscover._tcp.
	HTTPSPort int
	DKIM      []DKIM
	// MTASTSMode is the MTA-STS mode ("testing" unless set).
	MTASTSMode string
	// ReportAddress receives DMARC and TLS-RPT reports (default
	// postmaster@Domain).
	ReportAddress string
}

// Record is one DNS record youju wants published.
type Record struct {
	Name  string // absolute, with a trailing dot
	Type  string // MX, A, AAAA, TXT, SRV, CNAME
	Value string // RDATA in zone-file syntax (TXT: quoted strings)
	// Why says what the record is for, in a few words.
	Why string
	// Optional records improve things but their absence breaks nothing.
	Optional bool
	// Placeholder is set when Value must be edited before publishing.
	Placeholder bool

	check func(c *checker) result
}

// Line is the record in zone-file syntax.
func (r Record) Line() string {
	return fmt.Sprintf("%s\t%d\tIN\t%s\t%s", r.Name, TTL, r.Type, r.Value)
}

// MTASTSPolicy is the policy file served at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461 §3.2), with CRLF
// line endings.
func MTASTSPolicy(mode, mxHost string) string {
	if mode != MTASTSEnforce && mode != "none" {
		mode = MTASTSTesting
	}
	return "version: STSv1\r\nmode: " + mode + "\r\nmx: " + strings.TrimSuffix(strings.ToLower(mxHost), ".") +
		"\r\nmax_age: " + strconv.Itoa(mtaSTSMaxAge) + "\r\n"
}

// MTASTSID is the id= of the _mta-sts TXT record for a policy: derived from
// the policy, so it changes exactly when the policy does (RFC 8461 §3.1:
// 1 to 32 alphanumeric characters).
func MTASTSID(policy string) string {
	h := sha256.Sum256([]byte(policy))
	return hex.EncodeToString(h[:8])
}

// Records lists every record p needs, in the order they are best read.
func Records(p Params) []Record {
	d, host := fqdn(p.Domain), fqdn(p.Hostname)
	report := p.ReportAddress
	if report == "" {
		report = "postmaster@" + strings.TrimSuffix(d, ".")
	}
	var rs []Record
	rs = append(rs, Record{Name: d, Type: "MX", Value: "10 " + host,
		Why: "other servers deliver mail for the domain to the youju host", check: checkMX(d, host)})
	rs = append(rs, addressRecords(host, p.IPv4, p.IPv6)...)
	rs = append(rs,
		txtRecord(d, "v=spf1 mx -all", "SPF (RFC 7208): only the MX host sends mail for the domain", false, checkSPF(d, host)),
		txtRecord(host, "v=spf1 a -all", "SPF for the host's own name, checked on HELO (RFC 7208 §2.3)", true, checkSPF(host, host)))
	for _, k := range p.DKIM {
		name := k.Selector + "._domainkey." + d
		rs = append(rs, txtRecord(name, k.Value, "DKIM key "+k.Selector+" (RFC 6376 §3.6.1)", false, checkDKIM(name, k.Value)))
	}
	dmarc := "_dmarc." + d
	rs = append(rs, txtRecord(dmarc, "v=DMARC1; p=quarantine; rua=mailto:"+report,
		"DMARC (RFC 7489): what receivers do with mail failing SPF and DKIM", false, checkDMARC(dmarc)))
	sts := "_mta-sts." + d
	id := MTASTSID(MTASTSPolicy(p.MTASTSMode, p.Hostname))
	rs = append(rs,
		txtRecord(sts, "v=STSv1; id="+id, "MTA-STS (RFC 8461): senders must use TLS; policy at https://mta-sts."+strings.TrimSuffix(d, ".")+"/.well-known/mta-sts.txt", false, checkSTS(sts, id)),
		cnameRecord("mta-sts."+d, host, "serves the MTA-STS policy (youju's web listener, port 443)", false),
		txtRecord("_smtp._tls."+d, "v=TLSRPTv1; rua=mailto:"+report, "TLS-RPT (RFC 8460): where senders report TLS failures", true, checkTLSRPT("_smtp._tls."+d)))
	rs = append(rs, srvRecords(d, host, p.Settings)...)
	https := p.HTTPSPort
	if https == 0 {
		https = 443
	}
	rs = append(rs,
		cnameRecord("autoconfig."+d, host, "Thunderbird autoconfig", false),
		cnameRecord("autodiscover."+d, host, "Outlook autodiscover", false),
		srvRecord("_autodiscover", d, 0, 0, https, host, "Outlook finds autodiscover through this SRV", true))
	return rs
}

func addressRecords(host string, v4, v6 []netip.Addr) []Record {
	var rs []Record
	if len(v4) == 0 {
		rs = append(rs, Record{Name: host, Type: "A", Value: PlaceholderIPv4, Placeholder: true,
			Why: "the server's IPv4 address: REPLACE the placeholder (or run youju dns --ip ADDR)", check: checkAddr(host, false, nil, false)})
	}
	for _, a := range v4 {
		rs = append(rs, Record{Name: host, Type: "A", Value: a.String(), Why: "the server's IPv4 address", check: checkAddr(host, false, v4, false)})
	}
	if len(v6) == 0 {
		rs = append(rs, Record{Name: host, Type: "AAAA", Value: PlaceholderIPv6, Placeholder: true, Optional: true,
			Why: "the server's IPv6 address if it has one (youju dns --ipv6 ADDR); leave out otherwise", check: checkAddr(host, true, nil, true)})
	}
	for _, a := range v6 {
		rs = append(rs, Record{Name: host, Type: "AAAA", Value: a.String(), Why: "the server's IPv6 address", check: checkAddr(host, true, v6, false)})
	}
	return rs
}

// srvRecords are the RFC 6186 records for IMAP, POP3 and submission, with
// implicit TLS preferred (RFC 8314 §5.1) and IMAP before POP3 (RFC 6186
// §3.4: priorities are compared across _imap, _imaps, _pop3 and _pop3s).
// A service that is off is published with target "." (RFC 6186 §3.4).
func srvRecords(d, host string, settings []clientconf.Entry) []Record {
	type svc struct {
		name, proto string
		sec         clientconf.Security
		prio        int
	}
	svcs := []svc{
		{"_imaps", "IMAP", clientconf.TLS, 0}, {"_imap", "IMAP", clientconf.StartTLS, 10},
		{"_pop3s", "POP3", clientconf.TLS, 20}, {"_pop3", "POP3", clientconf.StartTLS, 30},
		{"_submissions", "SMTP", clientconf.TLS, 0}, {"_submission", "SMTP", clientconf.StartTLS, 10},
	}
	var rs []Record
	for _, s := range svcs {
		port := 0
		for _, e := range settings {
			if e.Protocol == s.proto && e.Security == s.sec {
				port = e.Port
				break
			}
		}
		if port == 0 {
			rs = append(rs, srvRecord(s.name, d, 0, 0, 0, ".", strings.ToUpper(strings.TrimPrefix(s.name, "_"))+" is off: '.' tells clients not to try it", true))
			continue
		}
		why := fmt.Sprintf("clients find %s (%s) here (RFC 6186)", s.proto, s.sec)
		rs = append(rs, srvRecord(s.name, d, s.prio, 1, port, host, why, false))
	}
	return rs
}

func srvRecord(service, d string, prio, weight, port int, target, why string, optional bool) Record {
	return Record{Name: service + "._tcp." + d, Type: "SRV", Value: fmt.Sprintf("%d %d %d %s", prio, weight, port, target),
		Why: why, Optional: optional, check: checkSRV(service, d, port, target)}
}

func cnameRecord(name, target, why string, optional bool) Record {
	return Record{Name: name, Type: "CNAME", Value: target, Why: why, Optional: optional, check: checkCNAME(name, target)}
}

func txtRecord(name, text, why string, optional bool, check func(*checker) result) Record {
	return Record{Name: name, Type: "TXT", Value: QuoteTXT(text), Why: why, Optional: optional, check: check}
}

// QuoteTXT writes a TXT value as zone-file character-strings of at most
// 255 bytes each (RFC 1035 §3.3.14: one string holds 255 bytes; longer
// values such as RSA DKIM keys are split and receivers concatenate them,
// RFC 6376 §3.6.2.2).
func QuoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	parts = append(parts, s)
	for i, p := range parts {
		p = strings.ReplaceAll(p, `\`, `\\`)
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return strings.Join(parts, " ")
}

// fqdn lower-cases a name and gives it its trailing dot.
func fqdn(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// Zone formats records as a zone-file fragment, each preceded by a comment
// saying why it is there.
func Zone(rs []Record) string {
	var b strings.Builder
	for _, r := range rs {
		tag := ""
		if r.Optional {
			tag = " (optional)"
		}
		if r.Placeholder {
			tag += " [EDIT BEFORE PUBLISHING]"
		}
		line := r.Line()
		if r.Placeholder && r.Optional {
			// Commented out: publish it only if it applies.
			line = "; " + line
		}
		fmt.Fprintf(&b, "; %s%s\n%s\n", r.Why, tag, line)
	}
	return b.String()
}
