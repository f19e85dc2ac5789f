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
	testutil.BenchIdleConnMemory(b, func(b *testing.B, useTLS bool) string {
		st, _ := memFixture(b, store.POP3Options{})
		ts := startServer(b, st, func(s *Server) { s.MaxConnections, s.MaxPerIP = -1, -1 })
		return map[bool]string{false: ts.addr, true: ts.tlsAddr}[useTLS]
	})
}
