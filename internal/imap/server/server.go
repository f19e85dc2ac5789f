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
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// Defaults of the zero fields of Server. Connection limits and the
// pre-login and command timeouts are internal/netserver's.
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
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = netserver.ErrServerClosed

// Server is an IMAP server. Its exported fields are its configuration; set
// them before Serve. Zero fields take the defaults above, or netserver's.
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
	Logger         *slog.Logger
	// Limits are the connection limits and the pre-login and command
	// timeouts; the pre-login timeout replaces IdleTimeout until login.
	netserver.Limits

	IdleTimeout      time.Duration // autologout while waiting for a command
	IDLETimeout      time.Duration // autologout in IDLE
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
	// PollInterval is how often a session looks for changes of its
	// mailbox without an event, on a store shared by several nodes
	// (poll.go).
	PollInterval time.Duration

	// Train, if set, teaches the learning filter (internal/spam) a
	// message the user marked as spam or as not spam (spamtrain.go).
	Train func(acct store.AccountID, msg []byte, spam bool)

	once    sync.Once
	net     netserver.Server
	recent  recentFloors // \Recent state (recent.go)
	threads threadCache  // THREAD data per mailbox (threadcache.go)
}

// conns returns the connection layer, configured from s on first use.
func (s *Server) conns() *netserver.Server {
	s.once.Do(func() {
		s.net = netserver.Server{
			Proto: "imap", Handler: s.handle, Logger: s.logger(),
			// RFC 9051 §7.1.5: BYE may be sent instead of a greeting.
			Refusal:      "* BYE too many connections, try again later\r\n",
			RefusalPerIP: "* BYE too many connections from your address\r\n",
			Limits:       s.Limits,
		}
	})
	return &s.net
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
	return s.conns().Serve(l, implicitTLS)
}

// handle runs the session of one admitted connection.
func (s *Server) handle(nc *netserver.Conn) {
	c := &conn{srv: s, nc: nc, raw: nc, remote: nc.Remote, implicitTLS: nc.ImplicitTLS,
		id: nc.ID, quit: make(chan struct{}), ctx: nc.Context()}
	nc.OnShutdown(c.shutdown)
	c.serve()
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
func (s *Server) Shutdown(ctx context.Context) error { return s.conns().Shutdown(ctx) }

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
