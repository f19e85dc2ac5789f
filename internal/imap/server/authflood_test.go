package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
		// The answers wait for up to ten argon2id runs, two at a time,
		// which on a loaded machine with -race take longer than the
		// harness's 10 s line deadline: the test waits for the answers
		// (the condition), and the deadline only stops a hung server.
		clients[i].patient()
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

// patient gives c a read deadline far beyond any load's slowness: for
// answers that wait on argon2id runs queued behind others, not for a
// timing.
func (c *client) patient() {
	c.deadline = time.Now().Add(5 * time.Minute)
	c.conn.SetReadDeadline(c.deadline)
}

// BenchmarkLoginFloodMemory sends 150 concurrent LOGINs with distinct wrong
// passwords from one address, with the real argon2id parameters, and
// reports the process's peak RSS (VmHWM, Linux). Run each case in its own
// process, as the peak never goes down:
//
//	go test -run x -bench 'LoginFloodMemory/throttled' -benchtime 1x ./internal/imap/server/
//	go test -run x -bench 'LoginFloodMemory/uncapped' -benchtime 1x ./internal/imap/server/
//
// "uncapped" lifts every limit to 150, which is what the server did
// before attempts were reserved and verifications bounded.
func BenchmarkLoginFloodMemory(b *testing.B) {
	for _, bc := range []struct {
		name string
		opt  auth.Options
	}{
		{"throttled", auth.Options{}},
		{"uncapped", auth.Options{MaxVerifications: 150, MaxVerificationsPerIP: 150, MaxFailuresPerPair: 1000, MaxFailuresPerIP: 1000, AccountBurst: 1000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.opt.DefaultDomain, bc.opt.MaxDelay = "example.org", -1
			ts := startServer(b, func(s *Server) { s.Auth = auth.New(s.Store, bc.opt) })
			for range b.N {
				clients := make([]*client, 150)
				for i := range clients {
					clients[i] = dialRaw(b, ts.addr)
				}
				for i, c := range clients {
					c.send(fmt.Sprintf(`t1 LOGIN %s "guess-%d"`, testUser, i))
				}
				var wg sync.WaitGroup
				for _, c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Uncapped, 150 argon2id runs share the cores for
						// longer than the harness's 10 s read deadline.
						c.patient()
						if _, err := c.r.ReadString('\n'); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
				for _, c := range clients {
					c.conn.Close()
				}
			}
			b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
		})
	}
}

// peakRSSMiB is the process's VmHWM in MiB.
func peakRSSMiB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	b.Skip("no VmHWM")
	return 0
}
