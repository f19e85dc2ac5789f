package queue

import (
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/reports"
)

type tlsLog struct {
	mu sync.Mutex
	ss []reports.TLSSession
}

func (l *tlsLog) add(s reports.TLSSession) { l.mu.Lock(); l.ss = append(l.ss, s); l.mu.Unlock() }
func (l *tlsLog) get() []reports.TLSSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]reports.TLSSession(nil), l.ss...)
}

// TestTLSReportRecords: every new session to an MX host is recorded with
// its policy type and RFC 8460 result type.
func TestTLSReportRecords(t *testing.T) {
	trusted, _ := cert(t)
	bogus := dnsresolver.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	for name, tc := range map[string]struct {
		cert      *tls.Certificate
		tlsa      []dnsresolver.TLSA
		policy    string
		failure   string
		delivered bool
	}{
		"opportunistic TLS": {trusted, nil, "no-policy-found", "", true},
		"plaintext":         {nil, nil, "no-policy-found", "starttls-not-supported", true},
		"DANE mismatch":     {trusted, []dnsresolver.TLSA{bogus}, "tlsa", "validation-failure", false},
		"DANE no STARTTLS":  {nil, []dnsresolver.TLSA{bogus}, "tlsa", "starttls-not-supported", false},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			s := newSinkCert(t, tc.cert, false)
			w.host("mx.rpt.test", s.addr)
			w.mx("rpt.test", "mx.rpt.test")
			if tc.tlsa != nil {
				w.dns.TLSA = map[string][]dnsresolver.TLSA{"_25._tcp.mx.rpt.test": tc.tlsa}
				w.dns.Secure = map[string]bool{"_25._tcp.mx.rpt.test": true}
				w.dns.SecureRR = map[string]bool{"MX rpt.test": true, "A mx.rpt.test": true} // RFC 7672 §2.2
			}
			var log tlsLog
			opt := testOptions(t, w)
			opt.RetryMin, opt.RetryMax = time.Hour, time.Hour
			opt.TLSReport = log.add
			q := openQueue(t, opt)
			enqueue(t, q, "alice@youju.test", []string{"bob@rpt.test"}, testMessage("alice@youju.test", "bob@rpt.test", "rpt"))
			waitFor(t, "a recorded session", func() bool { return len(log.get()) > 0 })
			r := log.get()[0]
			if r.Domain != "rpt.test" || r.MXHost != "mx.rpt.test" || r.PolicyType != tc.policy || r.Failure != tc.failure || r.ReceivingIP != "127.0.0.2" {
				t.Errorf("recorded %+v, want policy %s failure %q", r, tc.policy, tc.failure)
			}
			if tc.delivered {
				waitFor(t, "delivery", func() bool { return len(s.received()) == 1 })
			}
		})
	}
}
