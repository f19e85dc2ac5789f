package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/reports"
)

// reportsOutDir holds the events of the reports we send, one file per
// kind and day, removed once the day's reports are queued.
func reportsOutDir(dataDir string) string { return filepath.Join(dataDir, "reports-out") }

// reportSender makes, once a day, the TLS reports of our outbound
// sessions (RFC 8460) and the DMARC aggregate reports of inbound mail
// (RFC 7489 §7.2) of the previous days, and queues them to the rua=
// addresses the domains publish. Only with [reports] send = true.
type reportSender struct {
	out     *reports.Outbox
	enqueue func(ctx context.Context, from string, rcpts []string, data []byte, dsn delivery.DSN) error
	dns     dnsresolver.Resolver
	rep     reports.Reporter
	log     *slog.Logger
	now     func() time.Time
}

// run sends what is due now and then every hour until ctx ends.
func (r *reportSender) run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		r.sendDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sendDue queues the reports of every finished day. A domain without a
// rua= (or whose lookup fails) gets no report: reports are statistics,
// and a day is not kept forever for one domain's DNS.
func (r *reportSender) sendDue(ctx context.Context) {
	for _, kind := range []string{reports.KindTLSRPT, reports.KindDMARC} {
		days, err := r.out.Days(kind, r.now())
		if err != nil {
			r.log.Warn("reports: cannot list days", "kind", kind, "err", err)
			continue
		}
		for _, day := range days {
			if err := r.sendDay(ctx, kind, day); err != nil {
				r.log.Warn("reports: day not sent, will retry", "kind", kind, "day", day, "err", err)
				continue
			}
			if err := r.out.Done(kind, day); err != nil {
				r.log.Warn("reports: cannot remove the sent day", "kind", kind, "day", day, "err", err)
			}
		}
	}
}

// sendDay builds and queues the reports of one kind for one day; the
// error is only for what makes a retry worthwhile (reading, queueing).
func (r *reportSender) sendDay(ctx context.Context, kind, day string) error {
	begin, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return err
	}
	type built struct {
		id   string
		body []byte
	}
	byDomain := map[string]built{}
	switch kind {
	case reports.KindTLSRPT:
		ss, err := r.out.ReadTLS(day)
		if err != nil {
			return err
		}
		group := map[string][]reports.TLSSession{}
		for _, s := range ss {
			group[strings.ToLower(s.Domain)] = append(group[strings.ToLower(s.Domain)], s)
		}
		for d, g := range group {
			id := reports.NewReportID(day)
			if b, err := reports.BuildTLSRPT(r.rep, id, begin, d, g); err == nil {
				byDomain[d] = built{id, b}
			}
		}
	case reports.KindDMARC:
		es, err := r.out.ReadDMARC(day)
		if err != nil {
			return err
		}
		group := map[string][]reports.DMARCEvent{}
		for _, e := range es {
			group[strings.ToLower(e.HeaderFrom)] = append(group[strings.ToLower(e.HeaderFrom)], e)
		}
		for d, g := range group {
			id := reports.NewReportID(day)
			if b, err := reports.BuildDMARC(r.rep, id, begin, d, g); err == nil {
				byDomain[d] = built{id, b}
			}
		}
	}
	domains := make([]string, 0, len(byDomain))
	for d := range byDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		rua := r.rua(ctx, kind, d)
		if len(rua) == 0 {
			continue
		}
		b := byDomain[d]
		msg, err := reports.Mail(kind, r.rep, rua[0], d, b.id, begin, b.body, r.now())
		if err != nil {
			return err
		}
		if err := r.enqueue(ctx, r.rep.Contact, rua, msg, delivery.DSN{}); err != nil {
			return fmt.Errorf("queueing the %s report for %s: %w", kind, d, err)
		}
		r.log.Info("reports: queued", "kind", kind, "domain", d, "day", day, "to", strings.Join(rua, ","))
	}
	return nil
}

// rua returns where domain wants its reports of kind: the rua= of its
// _smtp._tls record (RFC 8460 §3) or of its _dmarc record (RFC 7489
// §6.3), the latter only to addresses in another domain that agrees to
// receive them (RFC 7489 §7.1).
func (r *reportSender) rua(ctx context.Context, kind, domain string) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name, version := "_smtp._tls."+domain, "v=TLSRPTv1"
	if kind == reports.KindDMARC {
		name, version = "_dmarc."+domain, "v=DMARC1"
	}
	txts, err := r.dns.LookupTXT(ctx, name)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range txts {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), strings.ToLower(version)) {
			continue
		}
		for _, f := range strings.Split(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if !strings.EqualFold(strings.TrimSpace(k), "rua") {
				continue
			}
			for _, a := range reports.RUA(v) {
				if kind == reports.KindDMARC && !r.externalOK(ctx, domain, a) {
					continue
				}
				out = append(out, a)
			}
		}
	}
	return out
}

// externalOK applies RFC 7489 §7.1: reports for domain go to an address
// of another domain only if that domain publishes
// "domain._report._dmarc.itsdomain" with v=DMARC1.
func (r *reportSender) externalOK(ctx context.Context, domain, addr string) bool {
	ad := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	if ad == domain || strings.HasSuffix(ad, "."+domain) || strings.HasSuffix(domain, "."+ad) {
		return true
	}
	txts, err := r.dns.LookupTXT(ctx, domain+"._report._dmarc."+ad)
	if err != nil {
		return false
	}
	for _, t := range txts {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), "v=dmarc1") {
			return true
		}
	}
	return false
}

// dmarcEvent turns a verdict of the MX port into a report row. Alignment
// is relaxed (RFC 7489 §3.1.1), approximated by the organisational
// relation "one domain is the other or a subdomain of it".
func dmarcEvent(remoteIP string, v mailauth.Verdict, now time.Time) (reports.DMARCEvent, bool) {
	d := v.DMARC
	if d.FromDomain == "" || (d.Result != "pass" && d.Result != "fail") {
		return reports.DMARCEvent{}, false // no policy: nobody to report to
	}
	ip := remoteIP
	if ap, err := netip.ParseAddrPort(remoteIP); err == nil {
		ip = ap.Addr().String()
	}
	e := reports.DMARCEvent{Time: now.UTC(), SourceIP: ip, HeaderFrom: d.FromDomain, Policy: d.Policy,
		Disposition: "none", DKIM: "fail", SPF: "fail",
		SPFDomain: v.SPF.Domain, SPFResult: string(v.SPF.Result), EnvelopeFrom: v.SPF.Domain}
	switch {
	case v.Reject:
		e.Disposition = "reject"
	case v.Junk:
		e.Disposition = "quarantine"
	}
	for _, k := range v.DKIM {
		if e.DKIMDomain == "" || k.Result == "pass" {
			e.DKIMDomain, e.DKIMResult = k.Domain, k.Result
		}
		if k.Result == "pass" && relaxed(k.Domain, d.FromDomain) {
			e.DKIM = "pass"
		}
	}
	if v.SPF.Result == "pass" && relaxed(v.SPF.Domain, d.FromDomain) {
		e.SPF = "pass"
	}
	return e, true
}

func relaxed(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

// tlsReportHook returns the queue's Options.TLSReport: sessions are
// recorded for the daily TLS reports when [reports] send is on.
func (d *deps) tlsReportHook() func(reports.TLSSession) {
	if !d.cfg.Reports.Send {
		return nil
	}
	if d.reportsOut == nil {
		d.reportsOut = &reports.Outbox{Dir: reportsOutDir(d.dataDir)}
	}
	out, log := d.reportsOut, d.log
	return func(s reports.TLSSession) {
		if err := out.Record(reports.KindTLSRPT, s.Time, s); err != nil {
			log.Warn("reports: cannot record a TLS session", "err", err)
		}
	}
}

// dmarcReportHook returns the MX server's DMARCReport: evaluations are
// recorded for the daily DMARC aggregate reports when [reports] send is on.
func (d *deps) dmarcReportHook() func(string, mailauth.Verdict) {
	if !d.cfg.Reports.Send {
		return nil
	}
	if d.reportsOut == nil {
		d.reportsOut = &reports.Outbox{Dir: reportsOutDir(d.dataDir)}
	}
	out, log := d.reportsOut, d.log
	return func(ip string, v mailauth.Verdict) {
		e, ok := dmarcEvent(ip, v, time.Now())
		if !ok {
			return
		}
		if err := out.Record(reports.KindDMARC, e.Time, e); err != nil {
			log.Warn("reports: cannot record a DMARC evaluation", "err", err)
		}
	}
}

// reportSender is the daily sender of [reports] send, through the queue.
func (d *deps) reportSender() *reportSender {
	return &reportSender{out: d.reportsOut, enqueue: d.outq.Enqueue, dns: d.dns, log: d.log.With("proto", "reports"), now: time.Now,
		rep: reports.Reporter{Org: d.cfg.Hostname, Contact: "postmaster@" + d.cfg.Domain}}
}
