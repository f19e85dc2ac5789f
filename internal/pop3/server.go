// Package pop3 is youju's POP3 server: RFC 1939 with the extensions of RFC
// 2449 (CAPA, response codes, PIPELINING, TOP, UIDL, USER), SASL (RFC 5034)
// and STLS (RFC 2595), on the same store as IMAP.
//
// The maildrop of a session is a snapshot taken at login: message numbers
// and sizes never change during the session (RFC 1939 §5), messages are
// streamed from the store, and deletions happen only in the UPDATE state
// after QUIT, in one store call per mailbox. Which messages the maildrop
// holds and what DELE does are per-account options (store.POP3Options).
package pop3

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
	// RFC 1939 §3: an inactivity autologout timer of at least 10 minutes.
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultWriteTimeout     = 2 * time.Minute
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxConnections   = 2000
	DefaultMaxPerIP         = 50
	DefaultMaxBadCommands   = 10
	DefaultMaxAuthFailures  = 3
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("pop3: server closed")

// Server is a POP3 server. Its exported fields are its configuration; set
// them before Serve. Zero fields take the defaults above.
type Server struct {
	Store store.Store
	Auth  *auth.Authenticator
	// TLSConfig enables STLS on Serve and is required by ServeTLS.
	TLSConfig *tls.Config
	// Hostname is shown in the greeting.
	Hostname string
	// AllowPlaintextLoopback accepts USER/PASS and AUTH without TLS when
	// the client connects from a loopback address (tests, local webmail).
	AllowPlaintextLoopback bool
	Logger                 *slog.Logger

	IdleTimeout      time.Duration // waiting for a command (autologout)
	WriteTimeout     time.Duration // for each write to the client
	HandshakeTimeout time.Duration // TLS handshake
	MaxConnections   int           // in total; negative: unlimited
	MaxPerIP         int           // per remote address; negative: unlimited
	MaxBadCommands   int           // unknown or malformed commands before disconnect
	MaxAuthFailures  int           // failed logins per connection before disconnect

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*session]struct{}
	perIP     map[netip.Addr]int
	locks     map[store.AccountID]struct{}
	nextID    atomic.Uint64
	closing   atomic.Bool
	handlers  sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{}
}

// Serve accepts plain connections on l (port 110): STLS upgrades them.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts connections on l and starts TLS on each at once (port
// 995, RFC 8314 §3.3).
func (s *Server) ServeTLS(l net.Listener) error {
	if s.TLSConfig == nil {
		return errors.New("pop3: ServeTLS needs TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*session]struct{})
		s.perIP = make(map[netip.Addr]int)
		s.locks = make(map[store.AccountID]struct{})
		s.done = make(chan struct{})
	}
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	if s.Store == nil || s.Auth == nil {
		return errors.New("pop3: Server needs Store and Auth")
	}
	s.init()
	if s.closing.Load() {
		return ErrServerClosed
	}
	s.mu.Lock()
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off and keep
			// serving, like net/http, rather than lose the listener.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logger().Warn("pop3: accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.startSession(c, implicitTLS)
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// startSession admits the connection against the limits and runs it.
func (s *Server) startSession(c net.Conn, implicitTLS bool) {
	remote := remoteAddr(c)
	sess := newSession(s, c, remote, implicitTLS)
	s.mu.Lock()
	maxConns := orDefault(s.MaxConnections, DefaultMaxConnections)
	maxIP := orDefault(s.MaxPerIP, DefaultMaxPerIP)
	refuse := maxConns > 0 && len(s.conns) >= maxConns || maxIP > 0 && s.perIP[remote] >= maxIP
	if !refuse {
		s.conns[sess] = struct{}{}
		s.perIP[remote]++
		s.handlers.Add(1)
	}
	s.mu.Unlock()
	if refuse {
		mRefused.With().Inc()
		// Answered in plain text even on 995 would confuse a TLS client;
		// there a bare close is the clearer signal.
		if !implicitTLS {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("-ERR [SYS/TEMP] Too many connections, try again later\r\n"))
		}
		s.logger().Warn("pop3: connection refused: limit reached", "remote", remote)
		_ = c.Close()
		return
	}
	mSessions.With().Inc()
	go func() {
		defer s.handlers.Done()
		defer s.endSession(sess, remote)
		defer mSessions.With().Dec()
		sess.run()
	}()
}

func (s *Server) endSession(sess *session, remote netip.Addr) {
	s.mu.Lock()
	delete(s.conns, sess)
	if s.perIP[remote]--; s.perIP[remote] <= 0 {
		delete(s.perIP, remote)
	}
	s.mu.Unlock()
}

func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// lock takes the exclusive maildrop lock of an account (RFC 1939 §8: the
// server acquires an exclusive-access lock on the maildrop). It is
// in-process; several nodes on one database would need a lease in the store.
func (s *Server) lock(id store.AccountID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.locks[id]; held {
		return false
	}
	s.locks[id] = struct{}{}
	return true
}

func (s *Server) unlock(id store.AccountID) {
	s.mu.Lock()
	delete(s.locks, id)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes the connections that wait for a command
// and waits for the others to finish theirs (a QUIT in its UPDATE state
// completes). When ctx ends first, it closes every connection. A session
// closed without QUIT deletes nothing (RFC 1939 §6).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closing.Store(true)
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	for l := range s.listeners {
		_ = l.Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			if c.idle.Load() {
				c.close()
			}
		}
		s.mu.Unlock()
		if n == 0 {
			s.handlers.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-tick.C:
		}
	}
}
