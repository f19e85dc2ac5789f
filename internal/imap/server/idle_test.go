package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// dialTLS logs in over implicit TLS.
func (ts *testServer) dialTLS(t testing.TB) *client {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.tlsAddr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatal(g)
	}
	c.ok("LOGIN " + testUser + ` "` + testPassword + `"`)
	return c
}

// idle sends IDLE and waits for the continuation.
func (c *client) idle(tag string) {
	c.t.Helper()
	c.send(tag + " IDLE")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		c.t.Fatalf("IDLE: %q", l)
	}
}

// TestIdleTLSWokenByEvents: in IDLE over TLS the session waits on the
// socket and is interrupted by each delivery through the read deadline;
// every interruption leaves the TLS connection usable, a DONE sent in two
// TLS records is read whole, and the session goes on.
func TestIdleTLSWokenByEvents(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialTLS(t)
	c.ok("SELECT INBOX")
	c.idle("i1")
	for n := 1; n <= 3; n++ {
		ts.deliver(t, "INBOX", simpleMsg, 0)
		if l := c.line(); l != fmt.Sprintf("* %d EXISTS", n) {
			t.Fatalf("delivery %d: %q", n, l)
		}
		if l := c.line(); l != fmt.Sprintf("* %d RECENT", n) {
			t.Fatalf("delivery %d: %q", n, l)
		}
	}
	// A change of another mailbox wakes the session but says nothing.
	ts.deliver(t, "Drafts", simpleMsg, 0)
	c.conn.Write([]byte("DO"))
	time.Sleep(50 * time.Millisecond)
	c.send("NE")
	if l := c.line(); !strings.HasPrefix(l, "i1 OK") {
		t.Fatalf("after DONE: %q", l)
	}
	mustContain(t, c.ok("FETCH 3 (UID)"), "* 3 FETCH (UID 3)")
	// IDLE again, ended at once.
	c.idle("i2")
	c.send("DONE")
	if l := c.line(); !strings.HasPrefix(l, "i2 OK") {
		t.Fatalf("after DONE: %q", l)
	}
}

// TestIdlePipelinedDone: a DONE that arrives with IDLE is read at once,
// and a command after it runs.
func TestIdlePipelinedDone(t *testing.T) {
	ts := startServer(t, nil)
	for _, useTLS := range []bool{false, true} {
		var c *client
		if useTLS {
			c = ts.dialTLS(t)
		} else {
			c = ts.login(t)
		}
		c.ok("SELECT INBOX")
		c.send("i IDLE\r\nDONE\r\nn NOOP")
		for _, want := range []string{"+ ", "i OK", "n OK"} {
			if l := c.line(); !strings.HasPrefix(l, want) {
				t.Fatalf("tls %v: %q, want %q", useTLS, l, want)
			}
		}
	}
}

func TestShutdownDuringIdleTLS(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialTLS(t)
	c.ok("SELECT INBOX")
	c.idle("i")
	go ts.srv.Shutdown(t.Context())
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("%q", l)
	}
}

// TestIdleTimeout: a client that does not refresh IDLE is logged out, and
// the mailbox's changes (wakes) do not restart the timer. Mail arrives
// without pause until the BYE: a timer restarted by wakes would never end
// the IDLE. Nothing depends on how long a delivery takes on a loaded
// machine: the test waits for the BYE, and a wake before or after the
// timeout is equally fine.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.IDLETimeout = 300 * time.Millisecond })
	c := ts.dialTLS(t)
	c.ok("SELECT INBOX")
	c.idle("i")
	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() { done <- deliverUntil(t, ts, stop) }()
	stopped := false
	defer func() { // also on t.Fatal: no delivery into a closed store
		if !stopped {
			close(stop)
			<-done
		}
	}()
	for {
		l := c.line()
		if strings.HasPrefix(l, "* BYE") {
			break
		}
		if !strings.HasSuffix(l, " EXISTS") && !strings.HasSuffix(l, " RECENT") {
			t.Fatalf("in IDLE: %q", l)
		}
	}
	close(stop)
	stopped = true
	if n := <-done; n == maxIdleWakes {
		t.Errorf("IDLE outlived %d wakes: a wake restarts its timer", n)
	}
	c.patient()
	if l, err := c.r.ReadString('\n'); err != io.EOF {
		t.Fatalf("still connected after the IDLE timeout: %q %v", l, err)
	}
}

// maxIdleWakes bounds deliverUntil when the server never ends the IDLE
// (the bug TestIdleTimeout looks for): far more wakes, paced at 10 ms at
// least, than fit in the 300 ms IDLE timeout.
const maxIdleWakes = 3000

// deliverUntil delivers to the INBOX until stop is closed (or
// maxIdleWakes were delivered) and returns how many it delivered.
func deliverUntil(t *testing.T, ts *testServer, stop <-chan struct{}) int {
	ctx := context.Background()
	m, err := ts.st.Mailbox(ctx, ts.acct.ID, "INBOX")
	if err != nil {
		t.Error(err)
		return 0
	}
	for n := 0; n < maxIdleWakes; n++ {
		select {
		case <-stop:
			return n
		case <-time.After(10 * time.Millisecond): // pacing, not a pass/fail timing
		}
		res, err := ts.st.Deliver(ctx, store.Delivery{Data: []byte(simpleMsg), Targets: []store.Target{{Account: ts.acct.ID, Mailbox: m.ID}}})
		if err != nil || res[0].Err != nil {
			t.Errorf("deliver: %v %v", err, res)
			return n
		}
	}
	return maxIdleWakes
}

// plainNotifier hides notify.Hub's SubscribeWake: a notifier that can
// only give a channel.
type plainNotifier struct{ n store.Notifier }

func (p plainNotifier) Subscribe(a store.AccountID) (<-chan store.Event, func()) {
	return p.n.Subscribe(a)
}
func (p plainNotifier) Publish(e store.Event) { p.n.Publish(e) }

type plainNotifierStore struct{ store.Store }

func (s plainNotifierStore) Notifier() store.Notifier {
	return plainNotifier{s.Store.Notifier()}
}

// TestIdleWithChannelNotifier: with a notifier that cannot call the
// session, a goroutine forwards its events and IDLE still reports them.
func TestIdleWithChannelNotifier(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Store = plainNotifierStore{s.Store} })
	c := ts.dialTLS(t)
	c.ok("SELECT INBOX")
	c.idle("i")
	ts.deliver(t, "INBOX", simpleMsg, 0)
	if l := c.line(); l != "* 1 EXISTS" {
		t.Fatalf("%q", l)
	}
	c.line() // RECENT
	c.send("DONE")
	if l := c.line(); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("%q", l)
	}
}

// TestIdleSessionIsOneGoroutine: a session in IDLE keeps one goroutine
// (issue 12): the wait for the client is interrupted by events instead of
// a second goroutine reading DONE.
func TestIdleSessionIsOneGoroutine(t *testing.T) {
	ts := startServer(t, nil)
	const n = 20
	var cs []*client
	for range n {
		c := ts.dialTLS(t)
		c.ok("SELECT INBOX")
		cs = append(cs, c)
	}
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i, c := range cs {
		c.idle(fmt.Sprint("i", i))
	}
	time.Sleep(100 * time.Millisecond)
	if d := runtime.NumGoroutine() - before; d > 2 {
		t.Errorf("%d sessions entering IDLE started %d goroutines", n, d)
	}
	for i, c := range cs {
		c.send("DONE")
		if l := c.line(); !strings.HasPrefix(l, fmt.Sprint("i", i, " OK")) {
			t.Fatalf("%q", l)
		}
	}
}

// TestFullEventChannelStillReports: when a session's event channel is
// full of other mailboxes' events, the event of its own mailbox is
// dropped (notify.Hub keeps the older ones); the session must look
// anyway.
func TestFullEventChannelStillReports(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("SELECT INBOX")
	for range 20 {
		ts.deliver(t, "Drafts", simpleMsg, 0)
	}
	ts.deliver(t, "INBOX", simpleMsg, 0)
	mustContain(t, c.ok("NOOP"), "* 1 EXISTS")
}
