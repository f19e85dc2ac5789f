package testutil

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchIdleConnMemory runs IdleConnMemory with 500 connections
// ($YOUJU_IDLE_CONNS to change it, e.g. 5000 as issue 11 states the
// flood) before TLS ("plain") and after it ("tls"); start serves a fresh
// server and returns the address of its plaintext or implicit-TLS port.
func BenchIdleConnMemory(b *testing.B, start func(b *testing.B, useTLS bool) string) {
	n := 500
	if v, err := strconv.Atoi(os.Getenv("YOUJU_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(b *testing.B) {
			IdleConnMemory(b, start(b, useTLS), n, useTLS)
		})
	}
}

// IdleConnMemory reports the memory (heap in use plus goroutine stacks)
// that n idle connections to addr cost the server in this process, per
// connection, as the metric "B/conn". The clients live in a child process
// (HoldConnections; the test package's init must call HoldMain).
func IdleConnMemory(b *testing.B, addr string, n int, useTLS bool) {
	b.Helper()
	for range b.N {
		before := inUse()
		release := HoldConnections(b, addr, n, useTLS)
		time.Sleep(200 * time.Millisecond) // the sessions reach their first read
		after := inUse()
		release()
		b.ReportMetric(float64(int64(after)-int64(before))/float64(n), "B/conn")
	}
}

func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
