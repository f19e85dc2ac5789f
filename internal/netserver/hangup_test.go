package netserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// busyServer answers "work" by waiting, inside Busy, for its context to
// end or for 10 s (a long store call), and reports which on results.
func busyServer(t *testing.T) (string, <-chan string) {
	t.Helper()
	results := make(chan string, 4)
	s := &Server{Proto: "test", Logger: slog.New(slog.DiscardHandler)}
	s.Handler = func(c *Conn) {
		r := bufio.NewReader(c)
		for {
			c.Await(time.Hour)
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(line) != "work" {
				io.WriteString(c, "ok "+line)
				continue
			}
			w := c.Busy()
			select {
			case <-c.Context().Done():
				results <- "cancelled"
			case <-time.After(2 * time.Second):
				results <- "finished"
			}
			w.Done()
			io.WriteString(c, "worked\r\n")
		}
	}
	l := listen(t)
	go s.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return l.Addr().String(), results
}

// A client that hangs up during a long command has its context cancelled
// (issue 13 point 5): the store call made with it would stop.
func TestBusyCancelsOnHangup(t *testing.T) {
	addr, results := busyServer(t)
	for _, how := range []string{"close", "reset"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "work\r\n")
		time.Sleep(2 * HangupDelay) // the watch has begun
		if how == "reset" {
			c.(*net.TCPConn).SetLinger(0)
		}
		c.Close()
		select {
		case r := <-results:
			if r != "cancelled" {
				t.Fatalf("%s: the command %s although its client hung up", how, r)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no result", how)
		}
	}
}

// A client that stays, even one that pipelines its next command, is not
// cancelled, and the connection reads on normally afterwards.
func TestBusyKeepsLiveClient(t *testing.T) {
	addr, results := busyServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	io.WriteString(c, "work\r\n")
	if r := <-results; r != "finished" {
		t.Fatalf("live client's command %s", r)
	}
	if l, _ := r.ReadString('\n'); l != "worked\r\n" {
		t.Fatalf("answer %q", l)
	}
	// Pipelined: the second line is there while the first command runs.
	io.WriteString(c, "work\r\nping\r\n")
	if r := <-results; r != "finished" {
		t.Fatalf("pipelining client's command %s", r)
	}
	for _, want := range []string{"worked\r\n", "ok ping\r\n"} {
		if l, err := r.ReadString('\n'); l != want {
			t.Fatalf("got %q (%v), want %q", l, err, want)
		}
	}
}
