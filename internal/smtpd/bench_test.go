package smtpd

import (
	"bytes"
	"context"
	"fmt"
	"github.com/youju/youju/internal/delivery"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/bench/smtp/load"
	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// BenchmarkAccept measures end-to-end durable acceptance of 10 KB
// messages: SMTP over loopback, resolution, delivery into a SQLite store
// on disk (fsync), 250 only after the store returned. One op is one
// message; msg/s is reported as a metric.
func BenchmarkAccept(b *testing.B) {
	for _, conns := range []int{1, 50} {
		for _, bdat := range []bool{false, true} {
			name := fmt.Sprintf("conns=%d/DATA", conns)
			if bdat {
				name = fmt.Sprintf("conns=%d/BDAT", conns)
			}
			b.Run(name, func(b *testing.B) {
				e := newEnv(b)
				s := e.server(Inbound)
				s.MaxPerIP = conns + 1
				addr := e.start(s, false)
				res := runLoad(b, load.Config{Addr: addr, From: "load@remote.net", To: "alice@example.com",
					Conns: conns, Messages: b.N, Size: 10240, BDAT: bdat})
				b.ReportMetric(float64(res.P(0.99).Microseconds()), "p99-µs")
			})
		}
	}
}

// BenchmarkAcceptAuth is BenchmarkAccept on the MX path with the inbound
// checks on: every message is DKIM-signed (RSA-2048), and SPF, the DKIM
// key and the DMARC policy are asked of a fake resolver that takes
// 2 ms per answer and lets nothing be cached, so that each message waits
// for its own queries: DATA latency shows whether they overlap.
func BenchmarkAcceptAuth(b *testing.B) {
	sig := &load.Signed{Domain: "remote.net", Selector: "load"}
	// Mail log lines are formatted as in production, then dropped.
	maillog.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer maillog.SetLogger(nil)
	for _, conns := range []int{1, 20} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			e := newEnv(b)
			cfg := load.Config{From: "load@remote.net", To: "alice@example.com", Conns: conns, Messages: b.N, Size: 10240, Signed: sig}
			dns, err := load.AuthDNS(cfg, sig, 2*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			s := e.server(Inbound)
			s.Auth = nil
			s.DNS = dns
			s.MaxPerIP = conns + 1
			cfg.Addr = e.start(s, false)
			res := runLoad(b, cfg)
			b.ReportMetric(float64(res.P(0.50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.P(0.90).Microseconds()), "p90-µs")
			// The checks ran and passed (a benchmark of failing checks
			// would measure something else).
			inbox := e.inbox(e.alice)
			for _, want := range []string{"spf=pass", "dkim=pass header.d=remote.net", "dmarc=pass"} {
				if !strings.Contains(inbox[len(inbox)-1], want) {
					b.Fatalf("message lacks %q:\n%.600s", want, inbox[len(inbox)-1])
				}
			}
		})
	}
}

// runLoad sends cfg.Messages (b.N) messages of cfg.Size bytes as one
// timed run, reports CPU per message and the rate, and fails unless all
// were accepted.
func runLoad(b *testing.B, cfg load.Config) *load.Result {
	b.SetBytes(int64(cfg.Size))
	cpu0 := cpuTime()
	b.ResetTimer()
	res, err := load.Run(cfg)
	b.StopTimer()
	// CPU per message (server, store and the load client, all in this
	// process) says what the 2 cores could do when the wall-clock rate
	// is bound by other load on the machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	if err != nil {
		b.Fatal(err)
	}
	if res.Sent != b.N {
		b.Fatalf("sent %d of %d", res.Sent, b.N)
	}
	b.ReportMetric(res.Rate(), "msg/s")
	return res
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nopStore accepts every delivery without writing it: BenchmarkSMTPOnly
// measures the SMTP layer (go-smtp, resolution, trace headers) alone.
type nopStore struct{ *deliverytest.Store }

func (nopStore) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	return make([]store.TargetResult, len(d.Targets)), nil
}

func BenchmarkSMTPOnly(b *testing.B) {
	benchSMTPOnly(b, nil)
}

// BenchmarkSMTPOnlyAuth is BenchmarkSMTPOnly with the MX port's SPF,
// DKIM and DMARC checks on, every answer in the DNS cache (as in a burst
// from one sender; the message is not signed, as in bench/compare).
func BenchmarkSMTPOnlyAuth(b *testing.B) {
	dns := &dnsresolver.Fake{TXT: map[string][]string{
		"remote.net":        {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.remote.net": {"v=DMARC1; p=reject"},
	}, TTL: map[string]time.Duration{"remote.net": time.Hour, "_dmarc.remote.net": time.Hour}}
	benchSMTPOnly(b, dns)
}

func benchSMTPOnly(b *testing.B, dns dnsresolver.Resolver) {
	// Mail log lines are formatted as in production, then dropped.
	maillog.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer maillog.SetLogger(nil)
	for _, conns := range []int{1, 50} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			ctx := context.Background()
			st := deliverytest.New()
			st.AddDomain(ctx, "example.com")
			st.CreateAccount(ctx, store.Account{Address: "alice@example.com"})
			s := &Server{Deliverer: delivery.New(nopStore{st}, nil, "", nil), Limits: netserver.Limits{MaxPerIP: conns + 1}, Logger: testLogger(b)}
			s.DNS = dns
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go s.Serve(l)
			defer s.Shutdown(ctx)
			b.SetBytes(10240)
			cpu0 := cpuTime()
			b.ResetTimer()
			res, err := load.Run(load.Config{Addr: l.Addr().String(), From: "a@remote.net", To: "alice@example.com",
				Conns: conns, Messages: b.N, Size: 10240})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.Rate(), "msg/s")
		})
	}
}

// BenchmarkEndOfDataWait measures what the end of DATA waits for when
// the message takes longer to arrive than DNS takes to answer: the
// client sends the header, then the body after the resolver's delay
// (5 ms, nothing cached), and the time from the final "." to the 250 is
// reported. With the queries started per header field and their answers
// held for the message, that wait is the verification and the store
// commit alone, no DNS round trip.
func BenchmarkEndOfDataWait(b *testing.B) {
	maillog.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer maillog.SetLogger(nil)
	const delay = 5 * time.Millisecond
	sig := &load.Signed{Domain: "remote.net", Selector: "load"}
	cfg := load.Config{From: "load@remote.net", To: "alice@example.com", Size: 10240, Signed: sig}
	dns, err := load.AuthDNS(cfg, sig, delay)
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b)
	s := e.server(Inbound)
	s.Auth = nil
	s.DNS = dns
	r := dialRaw(b, e.start(s, false))
	r.cmd("EHLO client.test", "250")
	msgs, err := load.Messages(cfg, b.N)
	if err != nil {
		b.Fatal(err)
	}
	var wait time.Duration
	b.ResetTimer()
	for _, m := range msgs {
		r.c.SetDeadline(time.Now().Add(20 * time.Second))
		r.cmd("MAIL FROM:<load@remote.net>", "250")
		r.cmd("RCPT TO:<alice@example.com>", "250")
		r.cmd("DATA", "354")
		split := bytes.Index(m, []byte("\r\n\r\n")) + 4
		r.send(string(m[:split]))
		time.Sleep(delay + time.Millisecond) // the body is slow to come
		r.send(string(m[split:]) + ".\r\n")
		t := time.Now()
		r.expect("250")
		wait += time.Since(t)
	}
	b.ReportMetric(float64(wait.Microseconds())/float64(b.N), "eod-wait-µs")
}
