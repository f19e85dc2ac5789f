package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"github.com/youju/youju/internal/testutil/fixture"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
)

const testPassword = "correct horse battery"

// passwordHash hashes testPassword once per test binary: argon2id is slow
// on purpose.
func passwordHash(t testing.TB) string { return fixture.PasswordHash(testPassword) }

func serverTLS(t testing.TB) *tls.Config { s, _ := fixture.TLS(); return s }

func clientTLS() *tls.Config { _, c := fixture.TLS(); return c }

// testServer is a running server with its plain and implicit-TLS ports.
type testServer struct {
	srv     *Server
	addr    string
	tlsAddr string
	done    chan error
}

func newAccount(addr string, opts store.POP3Options) store.Account {
	return store.Account{Address: addr, AllowIMAP: true, AllowPOP3: true, AllowSMTP: true, POP3: opts}
}

// startServer serves st on two loopback ports; configure may change the
// server before it starts.
func startServer(t testing.TB, st store.Store, configure func(*Server)) *testServer {
	t.Helper()
	srv := &Server{
		Store:                  st,
		Auth:                   auth.New(st, auth.Options{DefaultDomain: "example.org"}),
		TLSConfig:              serverTLS(t),
		Hostname:               "pop.example.org",
		AllowPlaintextLoopback: true,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		srv.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if configure != nil {
		configure(srv)
	}
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, addr: l1.Addr().String(), tlsAddr: l2.Addr().String(), done: make(chan error, 2)}
	go func() { ts.done <- srv.Serve(l1) }()
	serving := 2
	if srv.TLSConfig != nil {
		go func() { ts.done <- srv.ServeTLS(l2) }()
	} else {
		l2.Close()
		serving = 1
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range serving {
			if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
	})
	return ts
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client speaks raw POP3, transcript style.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	cl.expect("+OK pop.example.org POP3 server ready")
	return cl
}

func dialTLS(t testing.TB, addr string) *client {
	t.Helper()
	c, err := tls.Dial("tcp", addr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	cl.expect("+OK pop.example.org POP3 server ready")
	return cl
}

func (c *client) send(line string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads a line and checks it equals want, or starts with want when
// want ends in "*".
func (c *client) expect(want string) string {
	c.t.Helper()
	got := c.line()
	if p, ok := strings.CutSuffix(want, "*"); ok {
		if !strings.HasPrefix(got, p) {
			c.t.Fatalf("got %q, want prefix %q", got, p)
		}
	} else if got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
	return got
}

// do sends a command and checks the status line.
func (c *client) do(cmd, want string) string {
	c.t.Helper()
	c.send(cmd)
	return c.expect(want)
}

// multi reads a multi-line body up to ".", undoing byte-stuffing.
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		if strings.HasPrefix(l, ".") {
			l = l[1:]
		}
		out = append(out, l)
	}
}

// drain reads a multi-line body up to "." and counts its lines, without
// the per-line bookkeeping of multi (benchmarks measure the server).
func (c *client) drain() (int, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	n := 0
	for {
		l, err := c.r.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		if len(l) == 3 && l[0] == '.' {
			return n, nil
		}
		n++
	}
}

// expectClosed checks the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
}

func (c *client) login(user string) {
	c.t.Helper()
	c.do("USER "+user, "+OK*")
	c.do("PASS "+testPassword, "+OK Logged in*")
}

func plain(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}
