package netserver

import (
	"container/list"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one accepted connection. It is the raw TCP connection (TLS, if
// any, runs over it), counted by the limits until closed, with a context
// and the read deadlines of the command loop.
type Conn struct {
	net.Conn
	// ID numbers the connections of a Server, for logs.
	ID uint64
	// Remote is the client's address (zero if the connection has none).
	Remote netip.Addr
	// ImplicitTLS says the connection came to an implicit-TLS listener.
	ImplicitTLS bool

	srv       *Server
	client    *net.TCPAddr // from a PROXY header
	ctx       context.Context
	cancel    context.CancelFunc
	detached  atomic.Bool
	authed    atomic.Bool
	closeOnce sync.Once

	// Guarded by srv.lim.mu.
	counted bool
	preAuth *list.Element // in lim.pre while not authenticated

	// armed is set while a command is awaited or being read: Read then
	// moves the deadline as bytes arrive (see AwaitCommand).
	armed      atomic.Bool
	noWait     atomic.Bool // see ReadNoWait
	dmu        sync.Mutex  // guards what follows
	awaited    bool        // AwaitCommand was called: the session is set up
	started    bool        // the awaited command's first byte arrived
	start      time.Time
	got        int64
	lineT      time.Duration
	deadline   time.Time
	stopping   bool
	onShutdown func()
}

func newConn(s *Server, nc net.Conn, implicitTLS bool, client netip.AddrPort) *Conn {
	c := &Conn{Conn: nc, ID: s.nextID.Add(1), Remote: remoteIP(nc), ImplicitTLS: implicitTLS, srv: s}
	if client.IsValid() {
		c.Remote = client.Addr().Unmap()
		c.client = net.TCPAddrFromAddrPort(client)
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	return c
}

// remoteIP is the client's address without an IPv4-in-IPv6 wrapper.
func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// RemoteAddr is the client's address: the one a PROXY header gave, or
// the peer's.
func (c *Conn) RemoteAddr() net.Addr {
	if c.client != nil {
		return c.client
	}
	return c.Conn.RemoteAddr()
}

// Context is done when the connection closes, or when Shutdown gives up
// waiting. Store calls made for the session use it.
func (c *Conn) Context() context.Context { return c.ctx }

// Authenticated moves the connection out of the pre-authentication share
// of the limits: it will not be displaced by newer connections any more.
func (c *Conn) Authenticated() {
	if c.authed.CompareAndSwap(false, true) {
		c.srv.lim.authenticated(c)
	}
}

// Await sets the read deadline for the next command: idle is the
// protocol's autologout, shortened to the server's PreAuthTimeout until
// the client authenticated; the command then has CommandTimeout.
func (c *Conn) Await(idle time.Duration) error {
	if pre := Pick(c.srv.PreAuthTimeout, DefaultPreAuthTimeout); pre > 0 && !c.authed.Load() {
		idle = min(idle, pre)
	}
	return c.AwaitCommand(idle, Pick(c.srv.CommandTimeout, DefaultCommandTimeout))
}

// Detach hands the connection to another owner (go-smtp's server) that
// closes it: returning from Handler then leaves it open.
func (c *Conn) Detach() { c.detached.Store(true) }

// ShuttingDown reports whether the server's Shutdown has begun.
func (c *Conn) ShuttingDown() bool { return c.srv.closing.Load() }

// OnShutdown sets f to run (once, from another goroutine) when Shutdown
// begins, or at once if it has: the protocol's own way to end the session
// at a command boundary (IMAP ends IDLE, SMTP waits for DATA).
func (c *Conn) OnShutdown(f func()) {
	c.dmu.Lock()
	c.onShutdown = f
	stopping := c.stopping
	c.dmu.Unlock()
	if stopping {
		f()
	}
}

// Close closes the socket, releases the connection's place in the limits
// and cancels its context. It may be called more than once.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.srv.lim.release(c)
		c.cancel()
	})
	return err
}

// closeSocket closes the socket only: the handler's Close does the rest.
func (c *Conn) closeSocket() { _ = c.Conn.Close() }

// AwaitCommand sets the read deadline for the next command: the client
// has idle to begin it; from its first byte, line to complete it plus
// one second per MinRate bytes received (for IMAP literals). So a client
// sending a byte every few seconds is cut off after line, however long
// idle is. The rule holds until the next AwaitCommand or an explicit
// SetReadDeadline (IDLE, DATA, a TLS handshake). A line of 0 sets the
// idle deadline only. During Shutdown, a
// command not yet begun is not waited for: the read ends at once.
func (c *Conn) AwaitCommand(idle, line time.Duration) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.armed.Store(line > 0)
	c.awaited, c.started, c.got, c.lineT = true, false, 0, line
	c.deadline = time.Now().Add(idle)
	if c.stopping {
		c.deadline = time.Now()
	}
	return c.Conn.SetReadDeadline(c.deadline)
}

// Read reads from the socket and, while a command is awaited, moves the
// read deadline as the command arrives.
func (c *Conn) Read(p []byte) (int, error) {
	if c.noWait.Load() {
		return 0, ErrWouldBlock
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.armed.Load() {
		c.progress(n)
	}
	return n, err
}

func (c *Conn) progress(n int) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if !c.armed.Load() {
		return
	}
	if !c.started {
		c.started, c.start = true, time.Now()
	}
	c.got += int64(n)
	d := c.start.Add(c.lineT + time.Duration(c.got/MinRate)*time.Second)
	if !d.Equal(c.deadline) {
		c.deadline = d
		_ = c.Conn.SetReadDeadline(d)
	}
}

// SetReadDeadline sets an explicit deadline, ending AwaitCommand's rule.
// During Shutdown, a session still setting up (a TLS handshake) gets
// none: it is cut at once, nothing is lost by that.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.armed.Store(false)
	if c.stopping && !c.awaited {
		t = time.Now()
	}
	c.deadline = t // for Busy's watcher to put back (hangup.go)
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines, ending AwaitCommand's rule.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// interrupt is Shutdown's: a connection waiting for a command, or still
// setting up, stops waiting; the protocol's hook does the rest.
func (c *Conn) interrupt() {
	c.dmu.Lock()
	c.stopping = true
	if !c.awaited || c.armed.Load() && !c.started {
		_ = c.Conn.SetReadDeadline(time.Now())
	}
	f := c.onShutdown
	c.dmu.Unlock()
	if f != nil {
		f()
	}
}

// ErrWouldBlock is what Read returns inside ReadNoWait. It is a temporary
// timeout (net.Error), which crypto/tls does not keep as the connection's
// error.
var ErrWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "netserver: read would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// ReadNoWait calls read, a read of a layer over c (crypto/tls), while
// c's own reads fail at once with ErrWouldBlock: it returns what that
// layer holds already, or ErrWouldBlock, never waiting for the socket.
// With WaitReadable, a session can wait for TLS input without blocking
// inside crypto/tls, on a shallow stack (issue 12).
func (c *Conn) ReadNoWait(read func() (int, error)) (int, error) {
	c.noWait.Store(true)
	defer c.noWait.Store(false)
	return read()
}

// WaitReadable waits until the socket has input or the peer closed it,
// without reading, within the read deadline (a deadline in the past, or
// Shutdown, ends it with a timeout). It returns ErrUnsupported for a
// connection that is not a socket (a pipe in tests).
func (c *Conn) WaitReadable() error {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return waitReadable(rc)
}
