package smtpd

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/testutil"
)

const authAlice = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU="

// TestAcceptEMFILE: running out of file descriptors does not end the
// accept loop; the server goes on serving.
func TestAcceptEMFILE(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	e.start(s, false)
	testutil.ServesThroughEMFILE(t, s.Serve, func(addr string) { dialRaw(t, addr).cmd("EHLO c", "250") })
}

// TestSlowCommandLine: go-smtp sets ReadTimeout before each line, so a
// client dribbling a byte at a time kept the connection for as long as
// it liked; the command timeout from the line's first byte cuts it off.
func TestSlowCommandLine(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.CommandTimeout = 300 * time.Millisecond
	r := dialRaw(t, e.start(s, false))
	if n := testutil.Dribble(r.c, "EHLO "+strings.Repeat("x", 150)+"\r\n", 40*time.Millisecond); n < 0 {
		t.Fatal("a command dribbled over 6 s was not cut off")
	}
}

// TestPreAuthTimeout: on submission, a client that has not
// authenticated gets the short pre-login timeout; once it has, the
// command timeout of RFC 5321 §4.5.3.2 applies. The MX port has no
// pre-login phase. The clock is an unauthenticated connection that went
// idle after the other one: once the pre-login timeout has closed it, it
// would have closed the other too.
func TestPreAuthTimeout(t *testing.T) {
	e := newEnv(t)
	sub := e.server(Submission)
	sub.AllowPlaintextLoopback = true
	sub.PreAuthTimeout = 200 * time.Millisecond
	addr := e.start(sub, false)
	mx := e.server(Inbound)
	mx.PreAuthTimeout = 200 * time.Millisecond
	m := dialRaw(t, e.start(mx, false)) // idle from here on

	r := dialRaw(t, addr)
	r.cmd("EHLO c", "250")
	r.cmd(authAlice, "235") // idle from here on
	idle := dialRaw(t, addr)
	idle.cmd("EHLO c", "250")
	if !idle.closed() {
		t.Fatal("unauthenticated submission connection still open")
	}
	r.cmd("NOOP", "250")
	m.cmd("EHLO c", "250")
}

// TestRefusalReplies: 421 on a plaintext port (RFC 5321 §3.8), nothing
// on the implicit-TLS one.
func TestRefusalReplies(t *testing.T) {
	e := newEnv(t)
	s := e.server(Submission)
	s.MaxPerIP = 1
	plain, implicit := e.start(s, false), e.start(s, true)
	dialRaw(t, plain)
	if got, _ := testutil.ReadUntilClosed(testutil.DialFrom(t, "127.0.0.1", plain)); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("plaintext refusal %q", got)
	}
	if got, closed := testutil.ReadUntilClosed(testutil.DialFrom(t, "127.0.0.1", implicit)); !closed || got != "" {
		t.Fatalf("implicit-TLS refusal %q (closed %v), want nothing", got, closed)
	}
}

// TestPreAuthFlood: idle connections from many addresses on submission
// do not keep a user from authenticating, nor push out one who did.
func TestPreAuthFlood(t *testing.T) {
	e := newEnv(t)
	s := e.server(Submission)
	s.AllowPlaintextLoopback = true
	s.MaxConnections, s.PreAuthPercent = 10, 50
	addr := e.start(s, false)
	flood := func(from int) {
		for i := range 30 {
			c := testutil.DialFrom(t, fmt.Sprintf("127.0.0.%d", from+i), addr)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			bufio.NewReader(c).ReadString('\n') // the greeting: go-smtp has it
		}
	}
	flood(2)
	r := dialRaw(t, addr)
	r.cmd("EHLO c", "250")
	r.cmd(authAlice, "235")
	flood(40)
	r.cmd("NOOP", "250")
}

// TestProxyProtocol: behind a trusted load balancer, the client's address
// from its PROXY header is the one the session sees: in Received: (and
// so in SPF, the throttle and the logs, which read the same field).
func TestProxyProtocol(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &netserver.ProxyListener{Listener: inner, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 203.0.113.7 198.51.100.1 5678 25\r\n"))
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	r.expect("220")
	r.cmd("EHLO client.example", "250")
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
	in := e.inbox(e.alice)
	if len(in) != 1 || !strings.Contains(in[0], "203.0.113.7") || strings.Contains(in[0], "127.0.0.1") {
		t.Fatalf("Received: does not name the client: %q", in)
	}
}
