package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/youju/youju/internal/testutil/fixture"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
	"github.com/youju/youju/internal/store/sqlite"
)

const (
	testUser     = "alice@example.org"
	testPassword = "correct horse battery"
)

func passwordHash() string { return fixture.PasswordHash(testPassword) }

func serverTLS() *tls.Config { s, _ := fixture.TLS(); return s }

func clientTLS() *tls.Config { _, c := fixture.TLS(); return c }

type testServer struct {
	srv     *Server
	st      store.Store
	acct    store.Account
	addr    string
	tlsAddr string
}

// scramStore is what both backends offer auth for SCRAM upgrades.
type scramStore interface {
	SetSCRAM(ctx context.Context, acct store.AccountID, appID int64, hash, scram string) error
	SCRAMReady(ctx context.Context) (bool, error)
}

// newStore opens a fresh store with the account alice@example.org:
// SQLite, or PostgreSQL when YOUJU_IMAP_TEST_STORE=postgres (the whole
// suite then runs on the shared backend).
func newStore(t testing.TB) (store.Store, store.Account) {
	t.Helper()
	var st store.Store
	if os.Getenv("YOUJU_IMAP_TEST_STORE") == "postgres" {
		ps := pgtest.Open(t, pgtest.NewSchema(t), postgres.Options{})
		if err := ps.AddDomain(context.Background(), "example.org"); err != nil {
			t.Fatal(err)
		}
		st = ps
	} else {
		st = fixture.NewStore(t, sqlite.Options{}, "example.org")
	}
	return st, fixture.Account(t, st, store.Account{Address: testUser, PasswordHash: passwordHash(), AllowIMAP: true, AllowPOP3: true, AllowSMTP: true})
}

func startServer(t testing.TB, configure func(*Server)) *testServer {
	t.Helper()
	st, acct := newStore(t)
	srv := &Server{
		Store:                  st,
		Auth:                   auth.New(st, auth.Options{DefaultDomain: "example.org"}),
		TLSConfig:              serverTLS(),
		Hostname:               "imap.example.org",
		AllowPlaintextLoopback: true,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	done := make(chan error, 2)
	go func() { done <- srv.Serve(l1) }()
	go func() { done <- srv.ServeTLS(l2) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range 2 {
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
	})
	return &testServer{srv: srv, st: st, acct: acct, addr: l1.Addr().String(), tlsAddr: l2.Addr().String()}
}

// deliver puts a message into a mailbox of the test account.
func (ts *testServer) deliver(t testing.TB, mbox string, msg string, flags store.SysFlags) store.UID {
	t.Helper()
	ctx := context.Background()
	m, err := ts.st.Mailbox(ctx, ts.acct.ID, mbox)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: ts.acct.ID, Mailbox: m.ID, Flags: store.Flags{System: flags}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %v", err, res)
	}
	return res[0].UID
}

// client speaks raw IMAP, transcript style.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
	// deadline is refreshed at most once a second: setting it per line
	// would dominate the benchmarks' client side.
	deadline time.Time
}

func dialRaw(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	if g := cl.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		t.Fatalf("greeting %q", g)
	}
	return cl
}

// login dials and logs in.
func (ts *testServer) login(t testing.TB) *client {
	c := dialRaw(t, ts.addr)
	c.ok("LOGIN " + testUser + ` "` + testPassword + `"`)
	return c
}

// line reads one response line. It is on the benchmarks' hot path, so
// it does not call t.Helper (which costs a stack walk per line).
func (c *client) line() string {
	if now := time.Now(); now.After(c.deadline) {
		c.deadline = now.Add(time.Second)
		c.conn.SetReadDeadline(now.Add(10 * time.Second))
	}
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

// do sends a tagged command and returns the untagged lines (literals
// inlined) and the tagged completion.
func (c *client) do(cmd string) ([]string, string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	c.send(tag + " " + cmd)
	var untagged []string
	for {
		l := c.readResponse()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// readResponse reads a line and any literals it announces.
func (c *client) readResponse() string {
	l := c.line()
	for strings.HasSuffix(l, "}") {
		i := strings.LastIndexByte(l, '{')
		if i < 0 {
			break
		}
		var n int
		if _, err := fmt.Sscanf(l[i:], "{%d}", &n); err != nil {
			break
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			c.t.Fatal(err)
		}
		l += "\r\n" + string(buf) + c.line()
	}
	return l
}

// ok runs a command that must succeed.
func (c *client) ok(cmd string) []string {
	c.t.Helper()
	u, done := c.do(cmd)
	if !strings.HasPrefix(done, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", cmd, done, u)
	}
	return u
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func mustContain(t testing.TB, lines []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !hasLine(lines, w) {
			t.Fatalf("missing %q in\n%s", w, strings.Join(lines, "\n"))
		}
	}
}

const simpleMsg = "From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: hello\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHi Alice,\r\nhow are you?\r\n"

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
