package pgqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
)

// BenchmarkEnqueueDeliver: b.N messages (4 KiB) enqueued into the
// PostgreSQL queue from 8 goroutines with no runner ("enqueued/s": each a
// committed INSERT), then delivered by two runners on the same database
// to a local sink ("delivered/s": claims, SMTP, deletes).
func BenchmarkEnqueueDeliver(b *testing.B) {
	dsn, schema := setup(b)
	sk := newSink(b)
	sa, sb := openStorage(b, dsn, schema), openStorage(b, dsn, schema)
	qa, err := queue.Open(options(sa, sk.addr, time.Minute))
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
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				msg := append([]byte(fmt.Sprintf("Subject: b%d\r\n\r\n", i)), body...)
				if err := qa.Enqueue(context.Background(), "a@youju.test", []string{"b@remote.test"}, msg, delivery.DSN{}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	enq := time.Since(start)
	start = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	qa.Start(ctx)
	qb, err := queue.Open(options(sb, sk.addr, time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	qb.Start(ctx)
	for sk.total() < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/enq.Seconds(), "enqueued/s")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	qa.Shutdown(sctx)
	qb.Shutdown(sctx)
}
