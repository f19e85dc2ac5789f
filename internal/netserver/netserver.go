// Package netserver is the connection layer every protocol front-end
// shares (IMAP, POP3, SMTP, and later ManageSieve and HTTP): the accept
// loop, connection limits, refusal, panic recovery, per-connection
// contexts, command-line deadlines and graceful shutdown. A protocol
// server embeds a Server, sets Handler, and speaks its protocol on the
// *Conn it is given; everything about sockets as such lives here, once.
package netserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/metrics"
)

// Defaults of the zero fields of Server. They are config's: one source.
const (
	DefaultMaxConnections = config.DefaultMaxConnections
	DefaultMaxPerIP       = config.DefaultMaxConnectionsIP
	DefaultPreAuthPercent = config.DefaultPreAuthPercent
	DefaultPreAuthTimeout = config.DefaultPreAuthTimeout
	DefaultCommandTimeout = config.DefaultCommandTimeout
)

// MinRate is the slowest a command (with its IMAP literals) may arrive
// once begun, in bytes per second, on top of CommandTimeout; the idea is
// Apache mod_reqtimeout's MinRate.
const MinRate = 1024

// refusalTimeout bounds the write of a refusal reply. It is written to a
// fresh socket whose send buffer is empty, so it never waits in practice.
const refusalTimeout = time.Second

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("netserver: server closed")

var (
	mPanics = metrics.NewCounter("youju_panics_total",
		"Panics recovered in connection handlers, by protocol.", "proto")
	mRefused = metrics.NewCounter("youju_connections_refused_total",
		"Connections refused by a connection limit, by protocol.", "proto")
	mDisplaced = metrics.NewCounter("youju_connections_displaced_total",
		"Connections closed before login to make room for a newer one, by protocol.", "proto")
)

// Limits are the connection settings of every protocol server, which
// embeds them. Zero fields take the defaults (config's).
type Limits struct {
	// MaxConnections bounds the open connections; MaxPerIP those from
	// one address. Negative means no limit.
	MaxConnections int
	MaxPerIP       int
	// PreAuthPercent is the share of MaxConnections that connections
	// which have not called Conn.Authenticated may hold; negative puts
	// no such limit (the SMTP MX port, where nobody logs in).
	PreAuthPercent int
	// PreAuthTimeout replaces the protocol's idle timeout in Conn.Await
	// until Conn.Authenticated (negative: not); CommandTimeout bounds
	// each command from its first byte (see AwaitCommand).
	PreAuthTimeout time.Duration
	CommandTimeout time.Duration
}

// Server accepts connections and runs Handler on each. Its exported fields
// are its configuration: set them before Serve.
type Server struct {
	// Proto names the protocol in logs and metrics ("imap", "pop3", "smtp").
	Proto string
	// Handler serves one connection. The connection is closed when
	// Handler returns, unless Handler called Conn.Detach.
	Handler func(*Conn)
	// Refusal is the reply a refused plaintext connection gets, such as
	// "* BYE too many connections\r\n". Implicit-TLS connections are
	// closed without a byte: plaintext there is garbage to a TLS client.
	Refusal string
	// RefusalPerIP, if set, replaces Refusal when the client's address
	// is at MaxPerIP.
	RefusalPerIP string
	Logger       *slog.Logger
	Limits

	once      sync.Once
	ctx       context.Context // parent of every connection's
	cancel    context.CancelFunc
	closing   atomic.Bool
	nextID    atomic.Uint64
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	lim       limiter
}

func (s *Server) init() {
	s.once.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.listeners = make(map[net.Listener]struct{})
		s.lim.init(s.limits())
	})
}

// limits resolves the zero and negative fields (0 in the result: none).
func (s *Server) limits() (total, perIP, preAuth int) {
	total = Pick(s.MaxConnections, DefaultMaxConnections)
	perIP = Pick(s.MaxPerIP, DefaultMaxPerIP)
	pct := Pick(s.PreAuthPercent, DefaultPreAuthPercent)
	if total > 0 && pct > 0 && pct <= 100 {
		preAuth = max(1, total*pct/100)
	}
	return total, perIP, preAuth
}

// Pick resolves a setting by the servers' rule: zero takes def, negative
// means none (0).
func Pick[T int | int64 | time.Duration](v, def T) T {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// Counts returns the connections open now, and how many of them have not
// authenticated.
func (s *Server) Counts() (open, preAuth int) {
	s.init()
	return s.lim.counts()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Serve accepts connections on l until Shutdown or until l is closed. A
// failed Accept, such as running out of file descriptors (EMFILE,
// ENFILE), is logged and retried with a backoff from 5 ms to 1 s, as
// net/http does for temporary errors: a flood must not end the accept
// loop, it would take the service down for everyone.
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	if s.Handler == nil {
		return errors.New("netserver: Serve needs a Handler")
	}
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	proxied, _ := l.(*ProxyListener)
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if !retryable(err) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logger().Warn("accept failed; retrying", "proto", s.Proto, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if proxied != nil && proxied.trusts(remoteIP(nc)) {
			// The header is read off the accept loop: a slow peer must
			// not hold up the others.
			go s.admitProxied(nc, implicitTLS)
			continue
		}
		s.admit(nc, implicitTLS, netip.AddrPort{})
	}
}

// admitProxied reads the PROXY header of a trusted peer, then admits the
// connection under the client's address, so that limits, throttling,
// logs and SPF see the client and not the load balancer.
func (s *Server) admitProxied(nc net.Conn, implicitTLS bool) {
	src, err := readProxy(nc)
	if err != nil {
		s.logger().Info("PROXY header refused", "proto", s.Proto, "peer", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		return
	}
	s.admit(nc, implicitTLS, src)
}

// ServeConn admits and serves one connection accepted elsewhere (fuzz
// targets on a pipe), as if Serve had accepted it.
func (s *Server) ServeConn(nc net.Conn, implicitTLS bool) {
	if s.Handler == nil {
		panic("netserver: ServeConn needs a Handler")
	}
	s.init()
	s.admit(nc, implicitTLS, netip.AddrPort{})
}

// retryable tells a failure of one Accept from a dead listener. Only a
// closed listener ends Serve; anything else (EMFILE, ENFILE, ENOBUFS,
// ECONNABORTED, a timeout) may pass.
func retryable(err error) bool {
	return !errors.Is(err, net.ErrClosed)
}

// admit counts nc against the limits and starts its handler, or refuses
// it. A valid client is the address a PROXY header gave.
func (s *Server) admit(nc net.Conn, implicitTLS bool, client netip.AddrPort) {
	c := newConn(s, nc, implicitTLS, client)
	victim, ok, perIP := s.lim.acquire(c, s.closing.Load())
	// Nothing below holds a lock: closing and writing may block.
	if victim != nil {
		mDisplaced.With(s.Proto).Inc()
		s.logger().Info("connection displaced by a newer one: too many connections before login",
			"proto", s.Proto, "conn", victim.ID, "remote", victim.Remote.String())
		victim.closeSocket()
	}
	if !ok {
		mRefused.With(s.Proto).Inc()
		s.logger().Warn("connection refused: limit reached", "proto", s.Proto, "remote", c.Remote.String(), "per_address", perIP)
		reply := s.Refusal
		if perIP && s.RefusalPerIP != "" {
			reply = s.RefusalPerIP
		}
		if !implicitTLS && reply != "" {
			_ = nc.SetWriteDeadline(time.Now().Add(refusalTimeout))
			_, _ = nc.Write([]byte(reply))
		}
		_ = nc.Close()
		c.cancel()
		return
	}
	go s.run(c)
}

// run calls Handler with panic recovery: a bug in one session is logged
// and counted, and ends that session only.
func (s *Server) run(c *Conn) {
	defer func() {
		if v := recover(); v != nil {
			RecordPanic(s.Proto, s.logger(), v)
			_ = c.Close()
			return
		}
		if !c.detached.Load() {
			_ = c.Close()
		}
	}()
	s.Handler(c)
}

// RecordPanic logs a recovered panic with its stack and counts it in
// youju_panics_total, for handlers that recover on their own (per command,
// or in a library such as go-smtp).
func RecordPanic(proto string, log *slog.Logger, v any) {
	CountPanic(proto)
	log.Error("panic in connection handler", "proto", proto, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}

// CountPanic counts a panic that a library recovered and logged itself.
func CountPanic(proto string) { mPanics.With(proto).Inc() }

// Shutdown stops the listeners and interrupts every connection at its
// next command boundary: one waiting for a command has its read end at
// once, and the protocol's OnShutdown hook runs (IMAP ends IDLE there).
// It waits for the connections to close until ctx is done, then closes
// the rest and cancels their contexts.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		_ = l.Close()
	}
	s.mu.Unlock()
	for _, c := range s.lim.snapshot(true) {
		c.interrupt()
	}
	select {
	case <-s.lim.idle:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		for _, c := range s.lim.snapshot(false) {
			c.closeSocket()
		}
		return ctx.Err()
	}
}
