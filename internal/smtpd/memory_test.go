package smtpd

import (
	"testing"

	"github.com/youju/youju/internal/testutil"
)

func init() { testutil.HoldMain() }

// BenchmarkIdleConnMemory: what an idle submission connection costs the
// server, before and after TLS (issue 11: at most 32 KiB).
func BenchmarkIdleConnMemory(b *testing.B) {
	testutil.BenchIdleConnMemory(b, func(b *testing.B, useTLS bool) string {
		e := newEnv(b)
		s := e.server(Submission)
		s.MaxConnections, s.MaxPerIP = -1, -1
		return e.start(s, useTLS)
	})
}
