package reports

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reporter names us in the reports we send.
type Reporter struct {
	Org     string // organization-name / org_name: our host name
	Contact string // contact-info / email: postmaster@our domain
}

// tlsrptOut is RFC 8460 §4.4's report, the fields we fill.
type tlsrptOut struct {
	Org       string `json:"organization-name"`
	DateRange struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	} `json:"date-range"`
	Contact  string         `json:"contact-info"`
	ReportID string         `json:"report-id"`
	Policies []tlsrptPolicy `json:"policies"`
}

type tlsrptPolicy struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		Domain string   `json:"policy-domain"`
		MXHost []string `json:"mx-host,omitempty"`
	} `json:"policy"`
	Summary struct {
		Success int64 `json:"total-successful-session-count"`
		Failure int64 `json:"total-failure-session-count"`
	} `json:"summary"`
	Details []tlsrptDetail `json:"failure-details,omitempty"`
}

type tlsrptDetail struct {
	Type        string `json:"result-type"`
	SendingIP   string `json:"sending-mta-ip,omitempty"`
	MXHost      string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP string `json:"receiving-ip,omitempty"`
	Count       int64  `json:"failed-session-count"`
}

// NewReportID returns a unique report id.
func NewReportID(day string) string {
	var b [8]byte
	rand.Read(b[:])
	return day + "." + hex.EncodeToString(b[:])
}

// BuildTLSRPT makes the TLS report (RFC 8460 §4) of domain for the UTC
// day begin from its sessions: one policy per policy type, failures
// grouped by result type, MX host and address.
func BuildTLSRPT(rep Reporter, id string, begin time.Time, domain string, sessions []TLSSession) ([]byte, error) {
	var r tlsrptOut
	r.Org, r.Contact, r.ReportID = rep.Org, rep.Contact, id
	r.DateRange.Start = begin.UTC().Format(time.RFC3339)
	r.DateRange.End = begin.UTC().Add(24*time.Hour - time.Second).Format(time.RFC3339)
	byType := map[string]*tlsrptPolicy{}
	details := map[string]map[tlsrptDetail]int64{}
	mx := map[string]map[string]bool{}
	var types []string
	for _, s := range sessions {
		p := byType[s.PolicyType]
		if p == nil {
			p = &tlsrptPolicy{}
			p.Policy.Type, p.Policy.Domain = s.PolicyType, domain
			byType[s.PolicyType] = p
			details[s.PolicyType] = map[tlsrptDetail]int64{}
			mx[s.PolicyType] = map[string]bool{}
			types = append(types, s.PolicyType)
		}
		if s.MXHost != "" && s.PolicyType != "no-policy-found" {
			mx[s.PolicyType][s.MXHost] = true
		}
		if s.Failure == "" {
			p.Summary.Success++
			continue
		}
		p.Summary.Failure++
		details[s.PolicyType][tlsrptDetail{Type: s.Failure, SendingIP: s.SendingIP, MXHost: s.MXHost, ReceivingIP: s.ReceivingIP}]++
	}
	sort.Strings(types)
	for _, t := range types {
		p := byType[t]
		for h := range mx[t] {
			p.Policy.MXHost = append(p.Policy.MXHost, h)
		}
		sort.Strings(p.Policy.MXHost)
		for d, n := range details[t] {
			d.Count = n
			p.Details = append(p.Details, d)
		}
		sort.Slice(p.Details, func(i, j int) bool { return p.Details[i].Count > p.Details[j].Count })
		r.Policies = append(r.Policies, *p)
	}
	if len(r.Policies) == 0 {
		return nil, fmt.Errorf("reports: no sessions to report for %s", domain)
	}
	return json.MarshalIndent(r, "", " ")
}

// dmarcOut is RFC 7489 Appendix C's feedback, the elements we fill.
type dmarcOut struct {
	XMLName  xml.Name `xml:"feedback"`
	Version  string   `xml:"version"`
	Metadata struct {
		Org       string `xml:"org_name"`
		Email     string `xml:"email"`
		ReportID  string `xml:"report_id"`
		DateRange struct {
			Begin int64 `xml:"begin"`
			End   int64 `xml:"end"`
		} `xml:"date_range"`
	} `xml:"report_metadata"`
	Policy struct {
		Domain string `xml:"domain"`
		P      string `xml:"p"`
	} `xml:"policy_published"`
	Records []dmarcRecordOut `xml:"record"`
}

type dmarcRecordOut struct {
	Row struct {
		SourceIP  string `xml:"source_ip"`
		Count     int64  `xml:"count"`
		Evaluated struct {
			Disposition string `xml:"disposition"`
			DKIM        string `xml:"dkim"`
			SPF         string `xml:"spf"`
		} `xml:"policy_evaluated"`
	} `xml:"row"`
	Identifiers struct {
		EnvelopeFrom string `xml:"envelope_from,omitempty"`
		HeaderFrom   string `xml:"header_from"`
	} `xml:"identifiers"`
	Auth struct {
		DKIM []dmarcAuth `xml:"dkim"`
		SPF  []dmarcAuth `xml:"spf"`
	} `xml:"auth_results"`
}

type dmarcAuth struct {
	Domain string `xml:"domain"`
	Result string `xml:"result"`
}

// BuildDMARC makes the aggregate report (RFC 7489 §7.2, Appendix C) of
// domain for the UTC day begin: one record per distinct source address
// and outcome, with its count.
func BuildDMARC(rep Reporter, id string, begin time.Time, domain string, events []DMARCEvent) ([]byte, error) {
	var f dmarcOut
	f.Version = "1.0"
	f.Metadata.Org, f.Metadata.Email, f.Metadata.ReportID = rep.Org, rep.Contact, id
	f.Metadata.DateRange.Begin = begin.UTC().Unix()
	f.Metadata.DateRange.End = begin.UTC().Add(24*time.Hour - time.Second).Unix()
	f.Policy.Domain = domain
	idx := map[DMARCEvent]int{}
	for _, e := range events {
		if e.Policy != "" {
			f.Policy.P = e.Policy
		}
		k := e
		k.Time, k.Policy = time.Time{}, ""
		i, ok := idx[k]
		if !ok {
			var r dmarcRecordOut
			r.Row.SourceIP = e.SourceIP
			r.Row.Evaluated.Disposition, r.Row.Evaluated.DKIM, r.Row.Evaluated.SPF = e.Disposition, e.DKIM, e.SPF
			r.Identifiers.EnvelopeFrom, r.Identifiers.HeaderFrom = e.EnvelopeFrom, e.HeaderFrom
			if e.DKIMDomain != "" {
				r.Auth.DKIM = []dmarcAuth{{e.DKIMDomain, e.DKIMResult}}
			}
			// RFC 7489 Appendix C: auth_results has at least one SPF result.
			r.Auth.SPF = []dmarcAuth{{e.SPFDomain, orNone(e.SPFResult)}}
			i = len(f.Records)
			idx[k] = i
			f.Records = append(f.Records, r)
		}
		f.Records[i].Row.Count++
	}
	if f.Policy.P == "" {
		f.Policy.P = "none"
	}
	if len(f.Records) == 0 {
		return nil, fmt.Errorf("reports: no messages to report for %s", domain)
	}
	out, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Mail wraps a report as the mail that carries it: for TLS-RPT a
// multipart/report with report-type="tlsrpt" and an
// application/tlsrpt+gzip part (RFC 8460 §5.3); for DMARC a
// multipart/mixed with an application/gzip attachment named
// receiver!domain!begin!end.xml.gz (RFC 7489 §7.2.1.1). report is the
// uncompressed report.
func Mail(kind string, rep Reporter, to, domain, id string, begin time.Time, report []byte, now time.Time) ([]byte, error) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(report)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	start, end := begin.UTC().Unix(), begin.UTC().Add(24*time.Hour-time.Second).Unix()
	var b bytes.Buffer
	var rb [8]byte
	rand.Read(rb[:])
	boundary := "=_report_" + hex.EncodeToString(rb[:])
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\n", rep.Contact, to, now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n", id, rep.Org)
	var name, ctype, text string
	switch kind {
	case KindTLSRPT:
		fmt.Fprintf(&b, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", domain, rep.Org, id)
		fmt.Fprintf(&b, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n", domain, rep.Org)
		fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"\r\n\r\n", boundary)
		name = fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", rep.Org, domain, start, end, id)
		ctype = "application/tlsrpt+gzip"
		text = "This is an aggregate TLS report from " + rep.Org + ".\r\n"
	case KindDMARC:
		fmt.Fprintf(&b, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", domain, rep.Org, id)
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
		name = fmt.Sprintf("%s!%s!%d!%d.xml.gz", rep.Org, domain, start, end)
		ctype = "application/gzip"
		text = "This is a DMARC aggregate report from " + rep.Org + ".\r\n"
	default:
		return nil, fmt.Errorf("reports: unknown kind %q", kind)
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s", boundary, text)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\n", boundary, ctype, name, name)
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(z.Bytes())
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	fmt.Fprintf(&b, "%s\r\n--%s--\r\n", enc, boundary)
	return b.Bytes(), nil
}

// RUA returns the mailto: addresses of a rua= tag value ("mailto:a@b,
// mailto:c@d!10m"), RFC 7489 §6.4 and RFC 8460 §3; other schemes and
// size limits are dropped.
func RUA(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(strings.ToLower(u), "mailto:") {
			continue
		}
		a := u[len("mailto:"):]
		if i := strings.IndexByte(a, '!'); i >= 0 {
			a = a[:i]
		}
		if strings.Count(a, "@") == 1 && !strings.ContainsAny(a, " <>\r\n") {
			out = append(out, a)
		}
	}
	return out
}
