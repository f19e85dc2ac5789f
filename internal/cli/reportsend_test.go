package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/reports"
)

// TestReportSenderThroughQueue: yesterday's recorded TLS sessions and
// DMARC evaluations become one report each, queued to the rua= of the
// domains and delivered to a local SMTP sink, where the parsers read
// them back; a rua in another domain that did not agree (RFC 7489 §7.1)
// gets nothing.
func TestReportSenderThroughQueue(t *testing.T) {
	sink := &e2eSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &e2eSess{sink}, nil }))
	srv.Domain = "sink"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	dns := &dnsresolver.Fake{TXT: map[string][]string{
		"_smtp._tls.remote.test":                 {"v=TLSRPTv1; rua=mailto:tlsrpt@remote.test"},
		"_dmarc.sender.test":                     {"v=DMARC1; p=reject; rua=mailto:dmarc@remote.test"},
		"sender.test._report._dmarc.remote.test": {"v=DMARC1"},
		"_dmarc.other.test":                      {"v=DMARC1; p=none; rua=mailto:dmarc@remote.test"},
	}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Open(queue.Options{Dir: t.TempDir(), Hostname: "mail.example.test", Resolver: dns, Logger: logger,
		Transports: map[string]queue.Route{"remote.test": {Addr: l.Addr().String(), TLS: queue.TLSNone}},
		RetryMin:   time.Hour, RetryMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.Start(ctx)
	defer q.Shutdown(context.Background())

	out := &reports.Outbox{Dir: t.TempDir()}
	now := time.Now().UTC()
	yesterday := now.Add(-24 * time.Hour)
	out.Record(reports.KindTLSRPT, yesterday, reports.TLSSession{Time: yesterday, Domain: "remote.test", PolicyType: "sts", MXHost: "mx.remote.test"})
	out.Record(reports.KindTLSRPT, yesterday, reports.TLSSession{Time: yesterday, Domain: "remote.test", PolicyType: "sts", MXHost: "mx.remote.test", Failure: "certificate-expired"})
	out.Record(reports.KindTLSRPT, now, reports.TLSSession{Time: now, Domain: "remote.test", PolicyType: "sts"}) // today: not yet
	ev := reports.DMARCEvent{Time: yesterday, SourceIP: "192.0.2.1", HeaderFrom: "sender.test", Disposition: "none", DKIM: "pass", SPF: "pass", Policy: "reject"}
	out.Record(reports.KindDMARC, yesterday, ev)
	ev.HeaderFrom = "other.test"
	out.Record(reports.KindDMARC, yesterday, ev)

	rs := &reportSender{out: out, enqueue: q.Enqueue, dns: dns, log: logger, now: time.Now,
		rep: reports.Reporter{Org: "mail.example.test", Contact: "postmaster@example.test"}}
	rs.sendDue(ctx)

	// sendDue queued everything before returning: once the queue is
	// empty, the sink has all there is.
	deadline := time.Now().Add(20 * time.Second)
	for q.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queue still holds %d report(s)", q.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sink.mu.Lock()
	msgs := append([]string(nil), sink.msgs...)
	sink.mu.Unlock()
	if len(msgs) != 2 {
		t.Fatalf("%d reports delivered, want 2 (other.test's rua is not authorised)", len(msgs))
	}
	kinds := map[string]reports.Summary{}
	for _, m := range msgs {
		found, err := reports.FromMessage([]byte(m))
		if err != nil || len(found) != 1 {
			t.Fatalf("a delivered report does not parse: %v\n%s", err, m)
		}
		kinds[found[0].Kind] = found[0].Summary
	}
	if s := kinds[reports.KindTLSRPT]; s.Domain != "remote.test" || s.Pass != 1 || s.Fail != 1 || s.Org != "mail.example.test" {
		t.Errorf("TLS report %+v", s)
	}
	if s := kinds[reports.KindDMARC]; s.Domain != "sender.test" || s.Total != 1 || s.Pass != 1 {
		t.Errorf("DMARC report %+v", s)
	}
	if days, _ := out.Days(reports.KindTLSRPT, time.Now()); len(days) != 0 {
		t.Errorf("sent days still pending: %v", days)
	}
	for _, m := range msgs {
		if !strings.Contains(m, "From: <postmaster@example.test>") {
			t.Errorf("report not from our postmaster:\n%.300s", m)
		}
	}
}

func TestDMARCEvent(t *testing.T) {
	v := mailauth.Verdict{Junk: true}
	v.DMARC = mailauth.DMARCResult{Result: "fail", FromDomain: "sender.test", Policy: "quarantine"}
	v.SPF = mailauth.SPFResult{Result: "pass", Domain: "bounce.other.test"}
	v.DKIM = []mailauth.DKIMResult{{Result: "pass", Domain: "mail.sender.test"}}
	e, ok := dmarcEvent("192.0.2.7:52100", v, time.Now())
	if !ok || e.SourceIP != "192.0.2.7" || e.Disposition != "quarantine" || e.DKIM != "pass" || e.SPF != "fail" || e.Policy != "quarantine" {
		t.Errorf("%+v", e)
	}
	v.DMARC.Result = "none"
	if _, ok := dmarcEvent("192.0.2.7:1", v, time.Now()); ok {
		t.Error("an evaluation without a DMARC policy is recorded")
	}
}
