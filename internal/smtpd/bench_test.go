package smtpd

import (
	"fmt"
	"testing"

	"github.com/youju/youju/bench/smtp/load"
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
				b.SetBytes(10240)
				b.ResetTimer()
				res, err := load.Run(load.Config{Addr: addr, From: "load@remote.net", To: "alice@example.com",
					Conns: conns, Messages: b.N, Size: 10240, BDAT: bdat})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Sent != b.N {
					b.Fatalf("sent %d of %d", res.Sent, b.N)
				}
				b.ReportMetric(res.Rate(), "msg/s")
				b.ReportMetric(float64(res.P(0.99).Microseconds()), "p99-µs")
			})
		}
	}
}
