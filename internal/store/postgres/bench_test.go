package postgres

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/blob/fileblobs"
	"github.com/youju/youju/internal/store"
)

// cpuTime is the process's user+system CPU time (the server's is not
// counted: PostgreSQL runs in its own processes).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchDeliver(b *testing.B, writers, accounts int, random bool, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s := openSchema(b, schemaFor(b.TempDir()), o)
	defer s.Close()
	accts := make([]store.Account, accounts)
	for i := range accts {
		accts[i] = newAccount(b, s, fmt.Sprintf("bench%d@example.com", i))
	}
	msg := append([]byte("From: a@example.com\r\nTo: bench@example.com\r\nSubject: bench\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrst\r\n"), 150)...)
	msg = msg[:10*1024]
	if random {
		// Like an attachment: base64 of random bytes, which compresses
		// only by its alphabet (lz4, pglz: not at all).
		raw := make([]byte, 7*1024)
		rand.Read(raw)
		body := base64.StdEncoding.EncodeToString(raw)
		var m bytes.Buffer
		m.WriteString("From: a@example.com\r\nTo: bench@example.com\r\nSubject: bench\r\n\r\n")
		for len(body) > 76 {
			m.WriteString(body[:76] + "\r\n")
			body = body[76:]
		}
		msg = m.Bytes()[:10*1024]
	}
	var n atomic.Int64
	b.SetBytes(int64(len(msg)))
	b0, r0, p0 := s.batcher.batches.Load(), s.batcher.batched.Load(), s.pending.writes.Load()
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		a := accts[w%accounts]
		go func() {
			defer wg.Done()
			for n.Add(1) <= int64(b.N) {
				res, err := s.Deliver(ctx, store.Delivery{Data: msg, Targets: []store.Target{{Account: a.ID}}})
				if err != nil || res[0].Err != nil {
					b.Error(err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(s.batcher.batched.Load()-r0)/float64(max(1, s.batcher.batches.Load()-b0)), "reqs/commit")
	if o.Blobs != nil {
		b.ReportMetric(float64(s.pending.writes.Load()-p0)/float64(b.N), "pending-stmts/msg")
	}
	// What PostgreSQL wrote for the bytes (heap, TOAST and indexes of
	// blob_chunks): a machine-independent figure of its work per message.
	var chunkBytes int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_total_relation_size('blob_chunks')`).Scan(&chunkBytes); err == nil {
		b.ReportMetric(float64(chunkBytes)/float64(b.N), "chunk-B/msg")
	}
}

// BenchmarkDeliver10KB measures durable deliveries (each acknowledged
// after PostgreSQL's commit). Goal: >= 2000 msgs/s with 50 concurrent
// writers. The writers deliver to one INBOX, or each to its own account's.
// The message is the SQLite benchmark's (text that compresses well), and
// once an incompressible one.
func BenchmarkDeliver10KB(b *testing.B) {
	for _, c := range []struct{ writers, accounts int }{{1, 1}, {50, 1}, {50, 50}} {
		b.Run(fmt.Sprintf("writers=%d/accounts=%d", c.writers, c.accounts), func(b *testing.B) { benchDeliver(b, c.writers, c.accounts, false) })
	}
	b.Run("writers=50/accounts=1/incompressible", func(b *testing.B) { benchDeliver(b, 50, 1, true) })
}

// BenchmarkDeliver10KBFiles is BenchmarkDeliver10KB with the bytes in
// files (store.Blobs) rather than chunk rows: PostgreSQL then writes only
// the index.
func BenchmarkDeliver10KBFiles(b *testing.B) {
	fb, err := fileblobs.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("writers=50/accounts=50", func(b *testing.B) { benchDeliver(b, 50, 50, false, Options{Blobs: fb}) })
}
