package server

import (
	"bufio"
	"crypto/tls"
	"syscall"
	"testing"
)

// BenchmarkNoopRoundTrip times one command and its answer at a time (a
// client that waits for each answer), over plaintext and TLS: the
// per-command cost of the session loop, where parking (park.go) would
// show.
func BenchmarkNoopRoundTrip(b *testing.B) {
	ts := startServer(b, nil)
	for _, useTLS := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(b *testing.B) {
			var c *client
			if useTLS {
				conn, err := tls.Dial("tcp", ts.tlsAddr, clientTLS())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { conn.Close() })
				c = &client{t: b, conn: conn, r: bufio.NewReader(conn)}
				c.line()
				c.ok("LOGIN " + testUser + ` "` + testPassword + `"`)
			} else {
				c = ts.login(b)
			}
			c.ok("SELECT INBOX")
			cpu0 := cpuTime()
			for b.Loop() {
				c.run(b, "NOOP")
			}
			// CPU time of the process (server and client) per command:
			// steadier than ns/op on a loaded machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the user and system time of the process in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
