package netserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// lineServer is a Server whose handler greets, then answers each line:
// "login" authenticates, "panic" panics, anything else is echoed.
func lineServer(t *testing.T, configure func(*Server)) (*Server, string, string) {
	t.Helper()
	s := &Server{Proto: "test", Refusal: "NO full\r\n", Logger: slog.New(slog.DiscardHandler)}
	s.Handler = func(c *Conn) {
		io.WriteString(c, "hello\r\n")
		r := bufio.NewReader(c)
		for {
			c.Await(time.Hour)
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch strings.TrimSpace(line) {
			case "login":
				c.Authenticated()
			case "panic":
				panic("test panic")
			}
			io.WriteString(c, "ok "+line)
		}
	}
	if configure != nil {
		configure(s)
	}
	plain, implicit := listen(t), listen(t)
	done := make(chan error, 2)
	go func() { done <- s.Serve(plain, false) }()
	go func() { done <- s.Serve(implicit, true) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range 2 {
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
	})
	return s, plain.Addr().String(), implicit.Addr().String()
}

func listen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type peer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialPeer(t *testing.T, src, addr string) *peer {
	t.Helper()
	c := testutil.DialFrom(t, src, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &peer{t, c, bufio.NewReader(c)}
}

func (p *peer) line() string {
	l, _ := p.r.ReadString('\n')
	return l
}

func (p *peer) say(s string) string {
	p.t.Helper()
	io.WriteString(p.c, s+"\r\n")
	return p.line()
}

func TestLimits(t *testing.T) {
	s, addr, tlsAddr := lineServer(t, func(s *Server) {
		s.MaxConnections, s.MaxPerIP, s.PreAuthPercent = 4, 3, 50
	})
	// Per address: the fourth from one address is refused, with the
	// reply on the plaintext port and silence on the implicit-TLS one.
	var same []*peer
	for range 3 {
		p := dialPeer(t, "127.0.0.2", addr)
		if g := p.line(); g != "hello\r\n" {
			t.Fatalf("greeting %q", g)
		}
		if len(same) < 2 {
			p.say("login")
		}
		same = append(same, p)
	}
	if g := dialPeer(t, "127.0.0.2", addr).line(); g != "NO full\r\n" {
		t.Fatalf("over MaxPerIP, plaintext: %q", g)
	}
	if got, closed := testutil.ReadUntilClosed(dialPeer(t, "127.0.0.2", tlsAddr).c); got != "" || !closed {
		t.Fatalf("over MaxPerIP, implicit TLS: %q", got)
	}
	// Two logged in, one not: open 3 of 4, pre-login 1 of 2.
	if open, pre := s.Counts(); open != 3 || pre != 1 {
		t.Fatalf("counts %d, %d", open, pre)
	}
	// The pre-login share is full after one more; the next newcomer
	// displaces the oldest pre-login connection (same[2]), not a
	// logged-in one.
	a := dialPeer(t, "127.0.0.3", addr)
	a.line()
	b := dialPeer(t, "127.0.0.4", addr)
	if g := b.line(); g != "hello\r\n" {
		t.Fatalf("newcomer %q", g)
	}
	if got, closed := testutil.ReadUntilClosed(same[2].c); !closed || got != "" {
		t.Fatalf("oldest pre-login connection not displaced: %q", got)
	}
	for _, p := range same[:2] {
		if r := p.say("still"); r != "ok still\r\n" {
			t.Fatalf("logged-in connection: %q", r)
		}
	}
	// All four slots used by two logged in and two pre-login: with
	// nobody to displace once those log in, a newcomer is refused.
	a.say("login")
	b.say("login")
	if g := dialPeer(t, "127.0.0.5", addr).line(); g != "NO full\r\n" {
		t.Fatalf("over MaxConnections: %q", g)
	}
}

func TestPanicRecovered(t *testing.T) {
	_, addr, _ := lineServer(t, nil)
	before := mPanics.With("test").Value()
	p := dialPeer(t, "127.0.0.1", addr)
	p.line()
	p.say("panic")
	if got, closed := testutil.ReadUntilClosed(p.c); !closed {
		t.Fatalf("connection open after panic (%q)", got)
	}
	if after := mPanics.With("test").Value(); after != before+1 {
		t.Fatalf("youju_panics_total went from %v to %v", before, after)
	}
	q := dialPeer(t, "127.0.0.1", addr) // the server lives on
	q.line()
	if r := q.say("x"); r != "ok x\r\n" {
		t.Fatalf("after a panic: %q", r)
	}
}

func TestContextEndsWithConnection(t *testing.T) {
	ctxs := make(chan context.Context, 1)
	_, addr, _ := lineServer(t, func(s *Server) {
		h := s.Handler
		s.Handler = func(c *Conn) { ctxs <- c.Context(); h(c) }
	})
	p := dialPeer(t, "127.0.0.1", addr)
	p.line()
	ctx := <-ctxs
	if ctx.Err() != nil {
		t.Fatal("context done while the connection is open")
	}
	p.c.Close()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not done after the connection closed")
	}
}

func TestShutdownInterruptsWaiting(t *testing.T) {
	hooked := make(chan struct{})
	s, addr, _ := lineServer(t, func(s *Server) {
		h := s.Handler
		s.Handler = func(c *Conn) { c.OnShutdown(func() { close(hooked) }); h(c) }
	})
	p := dialPeer(t, "127.0.0.1", addr)
	p.line()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown waited for an idle connection: %v", err)
	}
	<-hooked
	if _, closed := testutil.ReadUntilClosed(p.c); !closed {
		t.Fatal("connection open after Shutdown")
	}
}

func TestAcceptRetries(t *testing.T) {
	s := &Server{Proto: "test", Logger: slog.New(slog.DiscardHandler), Handler: func(c *Conn) { io.WriteString(c, "hi\r\n") }}
	l := testutil.NewEMFILEListener(listen(t), 5)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l, false) }()
	p := dialPeer(t, "127.0.0.1", l.Addr().String())
	if g := p.line(); g != "hi\r\n" || l.Failed() != 5 {
		t.Fatalf("got %q after %d failures", g, l.Failed())
	}
	l.Close()
	if err := <-done; err == nil || errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve on a closed listener returned %v", err)
	}
}

// TestCommandDeadline checks the arithmetic of AwaitCommand on a real
// socket: idle before the first byte, then line plus MinRate.
func TestCommandDeadline(t *testing.T) {
	got := make(chan string, 1)
	_, addr, _ := lineServer(t, func(s *Server) {
		s.Handler = func(c *Conn) {
			c.AwaitCommand(time.Hour, 200*time.Millisecond)
			b, err := io.ReadAll(c)
			got <- fmt.Sprintf("%d %v", len(b), err != nil)
		}
	})
	p := dialPeer(t, "127.0.0.1", addr)
	if n := testutil.Dribble(p.c, strings.Repeat("x", 200), 30*time.Millisecond); n < 0 {
		t.Fatal("not cut off")
	}
	if r := <-got; !strings.HasSuffix(r, "true") {
		t.Fatalf("read ended with %s", r)
	}
}
