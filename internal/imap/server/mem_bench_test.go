package server

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
)

const memSessions = 100

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// BenchmarkSessionMemorySelected reports the memory of a session with the
// big INBOX selected (server and client side together, so an upper bound).
func BenchmarkSessionMemorySelected(b *testing.B) {
	ts := benchServer(b)
	warmUp(b, ts)
	for b.Loop() {
		before := heapInUse()
		var cs []*client
		for i := 0; i < memSessions; i++ {
			cs = append(cs, benchClient(b, ts))
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/memSessions, "bytes/session")
		if p := os.Getenv("YOUJU_HEAP_PROFILE"); p != "" {
			f, _ := os.Create(p)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		for _, c := range cs {
			c.run(b, "LOGOUT")
			c.conn.Close()
		}
	}
}

// BenchmarkSessionMemoryIdleTLS reports the memory of a TLS session in
// IDLE with the big INBOX selected.
func BenchmarkSessionMemoryIdleTLS(b *testing.B) {
	ts := benchServer(b)
	warmUp(b, ts)
	ts.srv.TLSConfig = serverTLS()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go ts.srv.ServeTLS(raw)
	for b.Loop() {
		before := heapInUse()
		var cs []*client
		for i := 0; i < memSessions; i++ {
			conn, err := tls.Dial("tcp", raw.Addr().String(), clientTLS())
			if err != nil {
				b.Fatal(err)
			}
			c := &client{t: b, conn: conn, r: bufio.NewReader(conn)}
			c.line()
			c.ok("LOGIN " + testUser + ` "` + testPassword + `"`)
			c.ok("SELECT INBOX")
			c.send("i IDLE")
			if l := c.line(); !strings.HasPrefix(l, "+") {
				b.Fatal(l)
			}
			cs = append(cs, c)
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/memSessions, "bytes/session")
		for _, c := range cs {
			c.send("DONE")
			c.conn.Close()
		}
	}
}

// warmUp selects the mailbox once, so that the store's shared per-mailbox
// cache is not counted as session memory.
func warmUp(b *testing.B, ts *testServer) {
	c := benchClient(b, ts)
	c.run(b, "LOGOUT")
	c.conn.Close()
}
