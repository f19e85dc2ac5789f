// Package server is youju's IMAP server (IMAP4rev1, RFC 3501, and
// IMAP4rev2, RFC 9051) on the store. Commands are parsed by
// internal/imap/wire into typed values; each command family has its own
// file here (auth.go, mailbox.go, select.go, fetch.go, ...), and handlers
// parse, call the store and stream the response, nothing else.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
)

// Defaults of the zero fields of Server.
const (
	// RFC 9051 §5.4: the autologout timer is at least 30 minutes.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultIDLETimeout ends an IDLE that the client did not refresh;
	// clients re-issue IDLE every 29 minutes (RFC 2177 §3).
	DefaultIDLETimeout      = 31 * time.Minute
	DefaultWriteTimeout     = 2 * time.Minute
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxLiteral       = 50 << 20
	DefaultMaxLine          = 64 << 10
	DefaultMaxBadCommands   = 20
	DefaultMaxConnections   = 5000
	// DefaultMaxPerIP is high because an office behind one NAT address
	// keeps several IMAP connections per person.
	DefaultMaxPerIP = 200
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("imap: server closed")

// Server is an IMAP server. Its exported fields are its configuration; set
// them before Serve. Zero fields take the defaults above.
type Server struct {
	Store store.Store
	Auth  *auth.Authenticator
	// TLSConfig enables STARTTLS on Serve and is required by ServeTLS.
	TLSConfig *tls.Config
	// Hostname is shown in the greeting.
	Hostname string
	// AllowPlaintextLoopback accepts LOGIN and AUTHENTICATE without TLS
	// from a loopback address (tests, a local webmail).
	AllowPlaintextLoopback bool
	// MaxLiteral is the largest message APPEND accepts, announced as
	// APPENDLIMIT (RFC 7889).
	MaxLiteral int64
	// MaxLine bounds a command line with its string literals.
	MaxLine        int
	MaxBadCommands int // protocol errors before the connection is closed
	MaxConnections int // negative: unlimited
	MaxPerIP       int // per remote address; negative: unlimited
	Logger         *slog.Logger

	IdleTimeout      time.Duration // autologout while waiting for a command
	IDLETimeout      time.Duration // autologout in IDLE
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[netip.Addr]int
	closing   atomic.Bool
	wg        sync.WaitGroup
	nextID    atomic.Uint64
	recent    recentFloors // \Recent state (recent.go)
	threads   threadCache  // THREAD data per mailbox (threadcache.go)
}

// Serve accepts plaintext connections (port 143): STARTTLS is offered when
// TLSConfig is set, and logins wait for it (RFC 9051 §6.2.1 LOGINDISABLED).
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts implicit-TLS connections (port 993, RFC 8314).
func (s *Server) ServeTLS(l net.Listener) error {
	if s.TLSConfig == nil {
		return errors.New("imap: ServeTLS needs TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.perIP = make(map[netip.Addr]int)
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(nc, implicitTLS)
		if c == nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

func (s *Server) newConn(nc net.Conn, implicitTLS bool) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.MaxConnections
	if limit == 0 {
		limit = DefaultMaxConnections
	}
	if s.closing.Load() || (limit > 0 && len(s.conns) >= limit) {
		nc.Write([]byte("* BYE too many connections\r\n"))
		nc.Close()
		return nil
	}
	ip := remoteIP(nc)
	perIP := s.MaxPerIP
	if perIP == 0 {
		perIP = DefaultMaxPerIP
	}
	if perIP > 0 && s.perIP[ip] >= perIP {
		// RFC 9051 §7.1.5: BYE may be sent instead of a greeting.
		nc.Write([]byte("* BYE too many connections from your address\r\n"))
		nc.Close()
		return nil
	}
	c := &conn{srv: s, nc: nc, raw: nc, remote: ip, implicitTLS: implicitTLS, id: s.nextID.Add(1), quit: make(chan struct{})}
	s.conns[c] = struct{}{}
	s.perIP[ip]++
	return c
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if n, ok := s.perIP[c.remote]; ok {
		if n <= 1 {
			delete(s.perIP, c.remote)
		} else {
			s.perIP[c.remote] = n - 1
		}
	}
	s.mu.Unlock()
}

// remoteIP is the client's address (zero if the conn has none).
func remoteIP(nc net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Shutdown stops the listeners, tells every session BYE at its next
// command boundary (sessions in IDLE at once) and waits for them until ctx
// is done; then it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func orDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Server) maxLiteral() int64 {
	if s.MaxLiteral > 0 {
		return s.MaxLiteral
	}
	return DefaultMaxLiteral
}
