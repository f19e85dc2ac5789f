package smtpd

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// limiter counts open connections overall and per remote address and
// keeps the set of live connections (for Shutdown).
type limiter struct {
	max, perIP int // 0 = unlimited

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
	conns map[*trackedConn]struct{}
}

func newLimiter(max, perIP int) *limiter {
	return &limiter{max: max, perIP: perIP, byIP: map[netip.Addr]int{}, conns: map[*trackedConn]struct{}{}}
}

// acquire admits c, or reports that a limit is reached.
func (l *limiter) acquire(c *trackedConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return false
	}
	if l.perIP > 0 && l.byIP[c.ip] >= l.perIP {
		return false
	}
	l.total++
	l.byIP[c.ip]++
	l.conns[c] = struct{}{}
	return true
}

func (l *limiter) release(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	l.total--
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
}

// interruptIdle makes every connection's next (or current) command read
// time out at once, except while a message is being received.
func (l *limiter) interruptIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.stopping.Store(true)
		if c.inData.Load() == 0 {
			c.Conn.SetReadDeadline(time.Now())
		}
	}
}

// limitListener admits connections within the limits. Refused plain
// connections get a 421 (RFC 5321 §3.8); implicit-TLS ones are just
// closed, since no TLS session exists to carry a reply.
type limitListener struct {
	net.Listener
	s     *Server
	plain bool
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, lim: ll.s.limits}
		if ll.plain {
			tc.lc = newLineConn(c, ll.s.TLSConfig != nil, pick(ll.s.MaxLineLength, DefaultMaxLineLength))
		}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			tc.ip = ap.Addr().Unmap()
		}
		if ll.s.shutting.Load() || !ll.s.limits.acquire(tc) {
			ll.s.log().Warn("connection refused: limit reached", "remote", c.RemoteAddr().String())
			if ll.plain {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			}
			c.Close()
			continue
		}
		return tc, nil
	}
}

// trackedConn is a connection counted by the limiter. It also carries the
// per-connection switches the session needs below go-smtp: "close after
// the next reply" (too many errors) and "in DATA" (Shutdown waits).
type trackedConn struct {
	net.Conn
	lim        *limiter
	ip         netip.Addr
	closeOnce  sync.Once
	inData     atomic.Int32 // Data calls running (an abandoned BDAT one may linger)
	stopping   atomic.Bool
	closeAfter atomic.Bool
	lc         *lineConn // read side of a plain connection (fastdata.go); nil under implicit TLS
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
		c.lim.release(c)
	})
	return err
}

// SetReadDeadline lets Shutdown win over go-smtp, which sets a fresh
// deadline before every command.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if c.stopping.Load() && c.inData.Load() == 0 {
		t = time.Now()
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
