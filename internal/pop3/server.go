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
	"sync"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// Defaults of the zero fields of Server. Connection limits and the
// pre-login and command timeouts are internal/netserver's.
const (
	// RFC 1939 §3: an inactivity autologout timer of at least 10 minutes.
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultWriteTimeout     = 2 * time.Minute
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxBadCommands   = 10
	DefaultMaxAuthFailures  = 3
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = netserver.ErrServerClosed

// Server is a POP3 server. Its exported fields are its configuration; set
// them before Serve. Zero fields take the defaults above, or netserver's.
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
	MaxBadCommands   int           // unknown or malformed commands before disconnect
	MaxAuthFailures  int           // failed logins per connection before disconnect
	// Limits are the connection limits and the pre-login and command
	// timeouts; the pre-login timeout replaces IdleTimeout until login.
	netserver.Limits
	// LeaseTTL is how long a maildrop lease in a store shared by several
	// nodes outlives a node that died (lease.go).
	LeaseTTL time.Duration

	once  sync.Once
	node  string // names this server in lease holders
	net   netserver.Server
	mu    sync.Mutex
	locks map[store.AccountID]struct{}
}

// conns returns the connection layer, configured from s on first use.
func (s *Server) conns() *netserver.Server {
	s.once.Do(func() {
		s.locks = make(map[store.AccountID]struct{})
		s.node = newNodeID()
		s.net = netserver.Server{
			Proto: "pop3", Handler: s.handle, Logger: s.logger(),
			Refusal: "-ERR [SYS/TEMP] Too many connections, try again later\r\n", // RFC 3206 §4
			Limits:  s.Limits,
		}
	})
	return &s.net
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

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	if s.Store == nil || s.Auth == nil {
		return errors.New("pop3: Server needs Store and Auth")
	}
	return s.conns().Serve(l, implicitTLS)
}

// handle runs the session of one admitted connection.
func (s *Server) handle(c *netserver.Conn) {
	sess := newSession(s, c)
	// Shutdown: netserver ends a wait for a command; a TLS handshake
	// under way is cut short too, nothing is lost by that.
	c.OnShutdown(func() {
		if sess.idle.Load() {
			sess.close()
		}
	})
	mSessions.With().Inc()
	defer mSessions.With().Dec()
	sess.run()
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

// lock takes the exclusive maildrop lock of an account (RFC 1939 §8: the
// server acquires an exclusive-access lock on the maildrop) in this
// process; a shared store adds a lease (lease.go).
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

// Shutdown stops accepting, ends the sessions that wait for a command and
// waits for the others to finish theirs (a QUIT in its UPDATE state
// completes). When ctx ends first, it closes every connection. A session
// closed without QUIT deletes nothing (RFC 1939 §6).
func (s *Server) Shutdown(ctx context.Context) error { return s.conns().Shutdown(ctx) }
