package pop3

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// TestAcceptEMFILE: when Accept fails for want of file descriptors the
// server backs off and goes on serving.
func TestAcceptEMFILE(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, nil)
	testutil.ServesThroughEMFILE(t, ts.srv.Serve, func(addr string) { dial(t, addr).do("CAPA", "+OK*") })
}

// TestSlowCommandLine: a command dribbled one byte at a time is cut off
// by the command timeout, counted from its first byte.
func TestSlowCommandLine(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) {
		s.CommandTimeout = 300 * time.Millisecond
		s.PreAuthTimeout = time.Hour
	})
	c := dial(t, ts.addr)
	if n := testutil.Dribble(c.conn, "USER "+strings.Repeat("x", 150)+"\r\n", 40*time.Millisecond); n < 0 {
		t.Fatal("a command dribbled over 6 s was not cut off")
	}
}

// TestPreAuthTimeout: an idle connection that has not logged in is
// closed after the pre-login timeout; a logged-in one keeps the
// autologout timer of RFC 1939 §3.
func TestPreAuthTimeout(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.PreAuthTimeout = 200 * time.Millisecond })
	idle := dial(t, ts.addr)
	if _, closed := testutil.ReadUntilClosed(idle.conn); !closed {
		t.Fatal("idle unauthenticated connection still open")
	}
	c := dial(t, ts.addr)
	c.login("alice@example.org")
	time.Sleep(600 * time.Millisecond)
	c.do("NOOP", "+OK*")
}

// TestRefusalReplies: a refused connection gets -ERR [SYS/TEMP] on 110
// (RFC 3206 §4) and not a byte on 995.
func TestRefusalReplies(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.MaxPerIP = 1 })
	c := dial(t, ts.addr)
	if got, _ := testutil.ReadUntilClosed(testutil.DialFrom(t, "127.0.0.1", ts.addr)); !strings.HasPrefix(got, "-ERR [SYS/TEMP]") {
		t.Fatalf("plaintext refusal %q", got)
	}
	if got, closed := testutil.ReadUntilClosed(testutil.DialFrom(t, "127.0.0.1", ts.tlsAddr)); !closed || got != "" {
		t.Fatalf("implicit-TLS refusal %q (closed %v), want nothing", got, closed)
	}
	c.do("NOOP", "-ERR*") // still there (NOOP needs login)
}

// TestPreAuthFlood: idle connections from many addresses do not keep a
// user from logging in, nor push out one who did.
func TestPreAuthFlood(t *testing.T) {
	st, _ := memFixture(t, store.POP3Options{})
	ts := startServer(t, st, func(s *Server) { s.MaxConnections = 10; s.PreAuthPercent = 50 })
	flood := func(from int) {
		for i := range 30 {
			testutil.DialFrom(t, fmt.Sprintf("127.0.0.%d", from+i), ts.addr)
		}
	}
	flood(2)
	c := dial(t, ts.addr)
	c.login("alice@example.org")
	flood(40)
	c.do("STAT", "+OK*")
	// A newcomer still gets a greeting, not a refusal.
	nc := testutil.DialFrom(t, "127.0.0.99", ts.addr)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if g, _ := bufio.NewReader(nc).ReadString('\n'); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("newcomer got %q", g)
	}
}
