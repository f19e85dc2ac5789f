package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dkimkeys"
)

// BenchmarkOutbound20Domains measures outbound throughput: b.N messages
// (4 KiB; with sign=true DKIM-signed with Ed25519 and RSA) for 20
// destination domains, each an MX on loopback (STARTTLS) served by one
// sink. "enqueued/s" is Enqueue (fsynced) from 8 goroutines with the
// runner stopped; "delivered/s" is the runner emptying that queue.
func BenchmarkOutbound20Domains(b *testing.B) {
	for _, sign := range []bool{false, true} {
		b.Run(fmt.Sprintf("sign=%v", sign), func(b *testing.B) { benchOutbound(b, 20, sign) })
	}
}

func benchOutbound(b *testing.B, domains int, sign bool) {
	w := newWorld()
	s := newSink(b, true, false)
	for i := range domains {
		d := fmt.Sprintf("d%02d.bench.test", i)
		w.host("mx."+d, s.addr)
		w.mx(d, "mx."+d)
	}
	opt := testOptions(b, w)
	if sign {
		dir := b.TempDir()
		if err := dkimkeys.Generate(dir, "youju.test"); err != nil {
			b.Fatal(err)
		}
		opt.DataDir = dir
	}
	q, err := Open(opt)
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 4096)
	for i := range body {
		body[i] = 'a' + byte(i%26)
		if i%78 == 77 {
			body[i-1], body[i] = '\r', '\n'
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	const writers = 8
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < b.N; i += writers {
				to := fmt.Sprintf("user%d@d%02d.bench.test", i, i%domains)
				msg := append(testMessage("alice@youju.test", to, fmt.Sprintf("m%d", i)), body...)
				if err := q.Enqueue(context.Background(), "alice@youju.test", []string{to}, msg, delivery.DSN{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	enq := time.Since(start)
	start = time.Now()
	q.Start(context.Background())
	defer q.Shutdown(context.Background())
	for len(s.received()) < b.N || q.Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "delivered/s")
	b.ReportMetric(float64(b.N)/enq.Seconds(), "enqueued/s")
	b.ReportMetric(float64(s.conns.Load()), "conns")
}
