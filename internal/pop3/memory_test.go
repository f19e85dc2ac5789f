package pop3

import (
	"testing"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

func init() { testutil.HoldMain() }

// BenchmarkIdleConnMemory: what an idle connection costs the server,
// before and after TLS (issue 11: at most 32 KiB).
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[useTLS]
		b.Run(name, func(b *testing.B) {
			st, _ := memFixture(b, store.POP3Options{})
			ts := startServer(b, st, func(s *Server) { s.MaxConnections, s.MaxPerIP = -1, -1 })
			addr := ts.addr
			if useTLS {
				addr = ts.tlsAddr
			}
			testutil.IdleConnMemory(b, addr, 500, useTLS)
		})
	}
}
