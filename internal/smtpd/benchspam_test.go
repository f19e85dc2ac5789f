package smtpd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/youju/youju/bench/smtp/load"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/spam"
)

// BenchmarkAcceptSpam is BenchmarkAccept (conns=20, DATA) on the MX path
// with the anti-spam checks of serve's default [spam] config: the HELO
// check, whose "is it our name" asks the store as serve's does, and an
// untrained learning filter (a new server's). CPU per message is the
// figure; the DNS checks of the connection answer from a fake resolver.
func BenchmarkAcceptSpam(b *testing.B) {
	const conns = 20
	// Mail log lines are formatted as in production, then dropped.
	maillog.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer maillog.SetLogger(nil)
	e := newEnv(b)
	s := e.server(Inbound)
	s.MaxPerIP = conns + 1
	s.Spam = &spam.Checker{
		Config: spam.Config{FCrDNS: true, HELO: true, JunkScore: 5, RejectScore: 10},
		Local: func(name string) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ok, err := e.st.IsLocalDomain(ctx, name)
			return err == nil && ok
		},
		Filter: &spam.Filter{},
		DNS: &dnsresolver.Fake{
			IP:   map[string][]net.IPAddr{"client.example": {{IP: net.IPv4(127, 0, 0, 1)}}},
			Addr: map[string][]string{"127.0.0.1": {"client.example."}},
		},
	}
	addr := e.start(s, false)
	res := runLoad(b, load.Config{Addr: addr, From: "load@remote.net", To: "alice@example.com",
		Conns: conns, Messages: b.N, Size: 10240})
	b.ReportMetric(float64(res.P(0.50).Microseconds()), "p50-µs")
}
