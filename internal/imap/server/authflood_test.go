package server

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/youju/youju/internal/auth"
)

// TestConcurrentLoginFlood is the regression test of issue 11 §5 ("Concurrent
// logins bypass the limit and exhaust memory"): 150 LOGINs with distinct
// wrong passwords sent at once from one address. Every attempt is reserved
// before its argon2id run, so at most MaxFailuresPerPair (10) passwords
// are verified, at most MaxVerificationsPerIP (2) at a time (19 MiB
// each), and the others are refused unverified; the right password sent
// once the limit is reached is refused like the guesses.
func TestConcurrentLoginFlood(t *testing.T) {
	var inFlight, maxInFlight, verified atomic.Int64
	ts := startServer(t, func(s *Server) {
		s.Auth = auth.New(s.Store, auth.Options{DefaultDomain: "example.org", MaxDelay: -1, OnVerify: func(d int) {
			n := inFlight.Add(int64(d))
			if d > 0 {
				verified.Add(1)
			}
			for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
			}
		}})
	})
	const n = 150
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dialRaw(t, ts.addr)
	}
	// Write every LOGIN before reading any answer.
	for i, c := range clients {
		c.send(fmt.Sprintf(`t1 LOGIN %s "guess-%d"`, testUser, i))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := c.readResponse()
			mu.Lock()
			answers[l]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if answers["t1 NO [AUTHENTICATIONFAILED] invalid credentials"] != n {
		t.Fatalf("answers: %v", answers)
	}
	if m := maxInFlight.Load(); m > 2 {
		t.Errorf("%d verifications at once from one address, want at most 2", m)
	}
	if v := verified.Load(); v > 10 {
		t.Errorf("%d of %d concurrent guesses verified, want at most 10", v, n)
	}
	before := verified.Load()
	c := dialRaw(t, ts.addr)
	if _, done := c.do("LOGIN " + testUser + ` "` + testPassword + `"`); !strings.HasPrefix(done, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("the right password after the flood: %s", done)
	}
	if v := verified.Load(); v != before {
		t.Errorf("the refused attempt was verified")
	}
}
