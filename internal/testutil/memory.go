package testutil

import (
	"runtime"
	"testing"
	"time"
)

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
