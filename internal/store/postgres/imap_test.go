package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/fixture"
)

// startIMAP serves IMAP from st on 127.0.0.1:0, as one node would.
func startIMAP(t *testing.T, st store.Store) string {
	t.Helper()
	srv := &imapserver.Server{
		Store:                  st,
		Auth:                   auth.New(st, auth.Options{DefaultDomain: "example.org"}),
		Hostname:               "imap.example.org",
		AllowPlaintextLoopback: true,
		Logger:                 slog.New(slog.DiscardHandler),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, imapserver.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// imapClient is a minimal line-oriented IMAP client.
type imapClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialIMAP(t *testing.T, addr string) *imapClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &imapClient{t: t, conn: c, r: bufio.NewReader(c)}
	if g := cl.line(10 * time.Second); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return cl
}

func (c *imapClient) line(d time.Duration) string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a command (with an optional literal after a "{n}" line) and
// returns the untagged lines; the tagged answer must be OK.
func (c *imapClient) cmd(line string, literal string) []string {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("a%d", c.n)
	if literal != "" {
		fmt.Fprintf(c.conn, "%s %s {%d}\r\n", tag, line, len(literal))
		if l := c.line(10 * time.Second); !strings.HasPrefix(l, "+") {
			c.t.Fatalf("%s: %q", line, l)
		}
		fmt.Fprintf(c.conn, "%s\r\n", literal)
	} else {
		fmt.Fprintf(c.conn, "%s %s\r\n", tag, line)
	}
	var out []string
	for {
		l := c.line(10 * time.Second)
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				c.t.Fatalf("%s: %q", line, l)
			}
			return out
		}
		out = append(out, l)
	}
}

// Two IMAP servers, each on its own store on one database, as two nodes:
// a message APPENDed through node A is announced to an IDLE session on
// node B, which then FETCHes it; its flag set on B is seen on A.
func TestIMAPTwoNodes(t *testing.T) {
	a, b := twoNodes(t)
	_, err := a.CreateAccount(ctx, store.Account{Address: "alice@example.org", PasswordHash: fixture.PasswordHash("pw pw pw"), AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	addrA, addrB := startIMAP(t, a), startIMAP(t, b)
	ca, cb := dialIMAP(t, addrA), dialIMAP(t, addrB)
	for _, c := range []*imapClient{ca, cb} {
		c.cmd(`LOGIN alice@example.org "pw pw pw"`, "")
		c.cmd("SELECT INBOX", "")
	}
	cb.n++
	fmt.Fprintf(cb.conn, "a%d IDLE\r\n", cb.n)
	if l := cb.line(10 * time.Second); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	msg := "From: bob@example.net\r\nSubject: across nodes\r\n\r\nhello from A\r\n"
	ca.cmd("APPEND INBOX", msg)
	t0 := time.Now()
	// 1 s is the goal; 5 s only keeps a loaded machine from failing.
	if l := cb.line(5 * time.Second); l != "* 1 EXISTS" {
		t.Fatalf("IDLE on B: %q", l)
	}
	t.Logf("IDLE on node B saw the APPEND on node A after %v", time.Since(t0))
	fmt.Fprintf(cb.conn, "DONE\r\n")
	for {
		l := cb.line(10 * time.Second)
		if strings.HasPrefix(l, fmt.Sprintf("a%d OK", cb.n)) {
			break
		}
	}
	got := strings.Join(cb.cmd("FETCH 1 (FLAGS BODY[])", ""), "\n")
	if !strings.Contains(got, "hello from A") {
		t.Fatalf("FETCH on B: %q", got)
	}
	got = strings.Join(cb.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])", ""), "\n")
	if !strings.Contains(got, "Subject: across nodes") {
		t.Fatalf("partial FETCH on B: %q", got)
	}
	if got := strings.Join(cb.cmd("SEARCH UNSEEN", ""), "\n"); got != "* SEARCH" {
		t.Fatalf("SEARCH UNSEEN on B after FETCH BODY[]: %q", got)
	}
	// \Recent is per node (each keeps its own), so only \Seen is checked.
	if got := strings.Join(ca.cmd("NOOP", ""), "\n"); !strings.Contains(got, "* 1 FETCH") || !strings.Contains(got, `\Seen)`) {
		t.Fatalf("NOOP on A after B read the message: %q", got)
	}
}
