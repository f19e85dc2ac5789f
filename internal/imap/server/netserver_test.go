package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestAcceptEMFILE: running out of file descriptors used to end the
// accept loop, and then serve shut every protocol down. Now Accept is
// retried with a backoff and the server goes on serving.
func TestAcceptEMFILE(t *testing.T) {
	ts := startServer(t, nil)
	testutil.ServesThroughEMFILE(t, ts.srv.Serve, func(addr string) { dialRaw(t, addr).ok("NOOP") })
}

// TestImplicitTLSRefusalSendsNoPlaintext: a refused connection on 993 is
// closed without a byte (a plaintext BYE is garbage to a TLS client),
// while 143 still says BYE.
func TestImplicitTLSRefusalSendsNoPlaintext(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxPerIP = 1 })
	first, err := tls.Dial("tcp", ts.tlsAddr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if g, _ := bufio.NewReader(first).ReadString('\n'); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	second := testutil.DialFrom(t, "127.0.0.1", ts.tlsAddr)
	if got, closed := testutil.ReadUntilClosed(second); !closed || got != "" {
		t.Fatalf("refused TLS connection got %q (closed %v), want nothing", got, closed)
	}
	plain := testutil.DialFrom(t, "127.0.0.1", ts.addr)
	if got, _ := testutil.ReadUntilClosed(plain); !strings.HasPrefix(got, "* BYE too many connections") {
		t.Fatalf("refused plaintext connection got %q", got)
	}
}

// TestSlowCommandLine: a client sending a command one byte at a time is
// cut off by the command timeout, counted from the line's first byte,
// although every single read comes well within the idle timeout.
func TestSlowCommandLine(t *testing.T) {
	ts := startServer(t, func(s *Server) {
		s.CommandTimeout = 300 * time.Millisecond
		s.PreAuthTimeout = time.Hour
	})
	c := dialRaw(t, ts.addr)
	line := "a LOGIN " + testUser + " " + strings.Repeat("x", 150) + "\r\n"
	if n := testutil.Dribble(c.conn, line, 40*time.Millisecond); n < 0 {
		t.Fatal("a command dribbled over 6 s was not cut off")
	}
	// The session is still fine for a client that sends whole lines.
	dialRaw(t, ts.addr).ok("NOOP")
}

// TestPreAuthTimeout: before login the short pre-login timeout applies,
// after login the autologout timer (RFC 9051 §5.4).
func TestPreAuthTimeout(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.PreAuthTimeout = 200 * time.Millisecond })
	idle := dialRaw(t, ts.addr)
	if got, closed := testutil.ReadUntilClosed(idle.conn); !closed || !strings.HasPrefix(got, "* BYE autologout") {
		t.Fatalf("idle unauthenticated connection: %q (closed %v)", got, closed)
	}
	c := ts.login(t)
	time.Sleep(600 * time.Millisecond) // three pre-login timeouts
	c.ok("NOOP")
}

// TestPreAuthFlood: idle connections from many addresses that never log
// in fill the pre-login share and then displace each other (oldest
// first); a client that logs in gets in, and once logged in it is never
// displaced by the flood.
func TestPreAuthFlood(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxConnections = 10; s.PreAuthPercent = 50 })
	flood := func(from, n int) {
		for i := range n {
			c := testutil.DialFrom(t, fmt.Sprintf("127.0.0.%d", from+i), ts.addr)
			_ = c // held open, silent
		}
	}
	flood(2, 30)
	c := dialRaw(t, ts.addr)
	c.ok("LOGIN " + testUser + ` "` + testPassword + `"`)
	flood(40, 30)
	c.ok("NOOP")
	open, pre := ts.srv.conns().Counts()
	if pre > 5 || open > 10 {
		t.Fatalf("%d connections open, %d before login: over the limits 10 and 5", open, pre)
	}
}

// TestShutdownEndsWaitingSessions: Shutdown does not wait for clients
// that sit between commands.
func TestShutdownEndsWaitingSessions(t *testing.T) {
	ts := startServer(t, nil)
	a, b := dialRaw(t, ts.addr), ts.login(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range []*client{a, b} {
		if got, closed := testutil.ReadUntilClosed(c.conn); !closed || !strings.Contains(got, "* BYE server shutting down") {
			t.Fatalf("got %q (closed %v)", got, closed)
		}
	}
}

// TestShutdownDuringHandshake: a TLS handshake that has not finished is
// cut by Shutdown, not waited for (HandshakeTimeout is 30 s).
func TestShutdownDuringHandshake(t *testing.T) {
	ts := startServer(t, nil)
	raw := testutil.DialFrom(t, "127.0.0.1", ts.tlsAddr) // no ClientHello
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := ts.srv.conns().Counts(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection not admitted")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got, closed := testutil.ReadUntilClosed(raw); !closed || got != "" {
		t.Fatalf("got %q (closed %v)", got, closed)
	}
}
