package reports

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var rep = Reporter{Org: "mail.youju.test", Contact: "postmaster@youju.test"}

func TestBuildTLSRPTRoundTrip(t *testing.T) {
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ss := []TLSSession{
		{Domain: "remote.test", PolicyType: "sts", MXHost: "mx1.remote.test"},
		{Domain: "remote.test", PolicyType: "sts", MXHost: "mx1.remote.test"},
		{Domain: "remote.test", PolicyType: "sts", MXHost: "mx2.remote.test", ReceivingIP: "192.0.2.9", Failure: "certificate-expired"},
		{Domain: "remote.test", PolicyType: "tlsa", MXHost: "mx1.remote.test", Failure: "validation-failure"},
	}
	out, err := BuildTLSRPT(rep, "id-1", day, "remote.test", ss)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseTLSRPT(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Org != rep.Org || s.Domain != "remote.test" || s.Pass != 2 || s.Fail != 2 || s.Failures["certificate-expired"] != 1 ||
		s.Failures["validation-failure"] != 1 || !s.Begin.Equal(day) || s.ReportID != "id-1" {
		t.Errorf("parsed back: %+v", s)
	}
	// RFC 8460 §4.4's required members are there, with the right types.
	var m map[string]any
	json.Unmarshal(out, &m)
	for _, k := range []string{"organization-name", "date-range", "contact-info", "report-id", "policies"} {
		if m[k] == nil {
			t.Errorf("report lacks %q", k)
		}
	}
	p := m["policies"].([]any)[0].(map[string]any)
	if pol := p["policy"].(map[string]any); pol["policy-type"] != "sts" || pol["policy-domain"] != "remote.test" {
		t.Errorf("policy %v", pol)
	}
	// In a mail, found again by the receiving side.
	msg, err := Mail(KindTLSRPT, rep, "tlsrpt@remote.test", "remote.test", "id-1", day, out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	found, err := FromMessage(msg)
	if err != nil || len(found) != 1 || found[0].Total != 4 {
		t.Fatalf("mail carried %d reports (%v)", len(found), err)
	}
	if !strings.Contains(string(msg), `report-type="tlsrpt"`) || !strings.Contains(string(msg), "application/tlsrpt+gzip") || !strings.Contains(string(msg), "TLS-Report-Domain: remote.test") {
		t.Errorf("mail shape (RFC 8460 §5.3):\n%s", msg)
	}
	if _, err := BuildTLSRPT(rep, "x", day, "remote.test", nil); err == nil {
		t.Error("a report without sessions was built")
	}
}

func TestBuildDMARCRoundTrip(t *testing.T) {
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ok := DMARCEvent{SourceIP: "192.0.2.1", HeaderFrom: "sender.test", Disposition: "none", DKIM: "pass", SPF: "pass", Policy: "reject",
		DKIMDomain: "sender.test", DKIMResult: "pass", SPFDomain: "sender.test", SPFResult: "pass", EnvelopeFrom: "sender.test"}
	bad := DMARCEvent{SourceIP: "198.51.100.7", HeaderFrom: "sender.test", Disposition: "reject", DKIM: "fail", SPF: "fail", Policy: "reject",
		SPFDomain: "spoof.example", SPFResult: "fail"}
	out, err := BuildDMARC(rep, "d-1", day, "sender.test", []DMARCEvent{ok, ok, ok, bad})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseDMARC(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Org != rep.Org || s.Domain != "sender.test" || s.Total != 4 || s.Pass != 3 || s.Fail != 1 || s.Failures["198.51.100.7"] != 1 || !s.Begin.Equal(day) {
		t.Errorf("parsed back: %+v", s)
	}
	// RFC 7489 Appendix C: the elements the schema requires.
	for _, want := range []string{"<version>1.0</version>", "<org_name>", "<email>", "<report_id>d-1</report_id>", "<date_range>",
		"<policy_published>", "<p>reject</p>", "<source_ip>192.0.2.1</source_ip>", "<count>3</count>", "<disposition>reject</disposition>",
		"<header_from>sender.test</header_from>", "<auth_results>", "<spf>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("report lacks %s:\n%s", want, out)
		}
	}
	msg, err := Mail(KindDMARC, rep, "dmarc@sender.test", "sender.test", "d-1", day, out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if found, err := FromMessage(msg); err != nil || len(found) != 1 || found[0].Kind != KindDMARC || found[0].Total != 4 {
		t.Fatalf("mail carried %v (%v)", found, err)
	}
}

func TestRUA(t *testing.T) {
	got := RUA("mailto:a@x.test, mailto:b@y.test!10m,https://r.test/up, mailto:bad , MAILTO:c@z.test")
	if strings.Join(got, " ") != "a@x.test b@y.test c@z.test" {
		t.Errorf("RUA: %q", got)
	}
}

func TestOutbox(t *testing.T) {
	o := &Outbox{Dir: t.TempDir()}
	d1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	o.Record(KindTLSRPT, d1, TLSSession{Domain: "a.test", PolicyType: "no-policy-found"})
	o.Record(KindTLSRPT, d1, TLSSession{Domain: "a.test", PolicyType: "sts", Failure: "starttls-not-supported"})
	o.Record(KindTLSRPT, now, TLSSession{Domain: "a.test"})
	days, err := o.Days(KindTLSRPT, now)
	if err != nil || len(days) != 1 || days[0] != "2026-12-01" {
		t.Fatalf("days %v %v (today's must wait)", days, err)
	}
	ss, err := o.ReadTLS(days[0])
	if err != nil || len(ss) != 2 || ss[1].Failure != "starttls-not-supported" {
		t.Fatalf("%+v %v", ss, err)
	}
	if err := o.Done(KindTLSRPT, days[0]); err != nil {
		t.Fatal(err)
	}
	if days, _ := o.Days(KindTLSRPT, now); len(days) != 0 {
		t.Errorf("days after Done: %v", days)
	}
}
