package smtpd

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/spam"
)

// initConns sets up the connection layer: netserver accepts and admits,
// then hands each connection to go-smtp through s.queue.
func (s *Server) initConns() {
	s.queue = newConnQueue()
	s.net = netserver.Server{
		Proto: "smtp", Handler: s.handle, Logger: s.log(),
		Refusal: "421 4.7.0 Too many connections, try again later\r\n", // RFC 5321 §3.8
		Limits:  s.Limits,
	}
	if s.Mode == Inbound {
		// Nobody logs in on the MX port (RFC 5321 §4.5.3.2: 5 minutes
		// per command), so it has no pre-login share or timeout.
		s.net.PreAuthPercent, s.net.PreAuthTimeout = -1, -1
	}
}

// handle wraps an admitted connection for go-smtp and hands it over;
// go-smtp closes it.
func (s *Server) handle(nc *netserver.Conn) {
	tc := &trackedConn{Conn: nc, nc: nc, s: s}
	nc.OnShutdown(tc.shutdown)
	var c net.Conn = tc
	if nc.ImplicitTLS {
		c = tls.Server(tc, s.TLSConfig)
	} else {
		tc.lc = newLineConn(nc, s.TLSConfig != nil, netserver.Pick(s.MaxLineLength, DefaultMaxLineLength))
	}
	if s.Spam != nil && s.Mode == Inbound && !s.startSpam(nc, tc) {
		return
	}
	if s.queue.push(c) {
		nc.Detach()
	}
}

// connQueue is the listener go-smtp serves: internal/netserver accepts,
// counts and admits connections, and hands them over here. Its Accept
// fails only once closed, so go-smtp's own accept loop never sees EMFILE.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{} }

// push hands c to go-smtp; false once the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

// trackedConn is an admitted connection as go-smtp sees it. It carries the
// per-connection switches the session needs below go-smtp: "close after
// the next reply" (too many errors), "in DATA" (Shutdown waits) and the
// deadline of each command line.
type trackedConn struct {
	net.Conn
	nc         *netserver.Conn // nil in tests that build one by hand
	s          *Server
	sess       atomic.Pointer[session] // set by NewSession
	closeOnce  sync.Once
	inData     atomic.Int32 // Data calls running (an abandoned BDAT one may linger)
	stopping   atomic.Bool
	closeAfter atomic.Bool
	lc         *lineConn  // read side of a plain connection (fastdata.go); nil under implicit TLS
	spam       *spam.Conn // the anti-spam checks of the connection (spam.go), or nil
}

// Context is the connection's (internal/netserver): done when it closes.
func (c *trackedConn) Context() context.Context {
	if c.nc == nil {
		return context.Background()
	}
	return c.nc.Context()
}

// shutdown is the netserver hook: every command read ends at once, except
// while a message is being received.
func (c *trackedConn) shutdown() {
	c.stopping.Store(true)
	if c.inData.Load() == 0 {
		c.Conn.SetReadDeadline(time.Now())
	}
}

// Read goes through lineConn on plain connections.
func (c *trackedConn) Read(b []byte) (int, error) {
	if c.lc != nil {
		return c.lc.Read(b)
	}
	return c.Conn.Read(b)
}

func (c *trackedConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.lc != nil {
			c.lc.flush() // the last reply (221, 421) still goes out
		}
		err = c.Conn.Close()
	})
	return err
}

// SetReadDeadline is called by go-smtp before every command line with its
// ReadTimeout. Outside DATA it becomes netserver's command deadline: the
// shorter pre-login wait on submission until AUTH succeeded, and the
// command timeout from the line's first byte. Shutdown wins over both.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if c.inData.Load() == 0 {
		if c.stopping.Load() {
			t = time.Now()
		} else if c.nc != nil && !t.IsZero() {
			if ss := c.sess.Load(); ss != nil && ss.account() != nil {
				c.nc.Authenticated()
			}
			return c.nc.Await(time.Until(t))
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Write closes the connection after the reply that follows a request to
// drop it (the reply itself still goes out).
func (c *trackedConn) Write(b []byte) (int, error) {
	if c.lc != nil {
		if !c.closeAfter.Load() && c.lc.hold(b) {
			return len(b), nil
		}
		if err := c.lc.flush(); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Write(b)
	if c.closeAfter.Load() {
		c.Close()
	}
	return n, err
}
