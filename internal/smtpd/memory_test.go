package smtpd

import (
	"testing"

	"github.com/youju/youju/internal/testutil"
)

func init() { testutil.HoldMain() }

// BenchmarkIdleConnMemory: what an idle connection costs the server,
// before and after TLS (issue 11: at most 32 KiB).
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "tls"}[useTLS]
		b.Run(name, func(b *testing.B) {
			e := newEnv(b)
			s := e.server(Submission)
			s.MaxConnections, s.MaxPerIP = -1, -1
			testutil.IdleConnMemory(b, e.start(s, useTLS), 500, useTLS)
		})
	}
}
