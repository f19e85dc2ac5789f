// Package smtpd is youju's SMTP server: MX (port 25, mail for our domains
// from anyone) and submission (465 implicit TLS, 587 STARTTLS; AUTH
// required). It wraps github.com/emersion/go-smtp, which owns the wire
// (command parsing, PIPELINING, CHUNKING, DATA dot-unstuffing, SIZE,
// ENHANCEDSTATUSCODES), and adds what go-smtp leaves to us: policy at
// MAIL/RCPT, delivery through internal/delivery, connection limits,
// per-connection logging, error counting and graceful shutdown.
//
// Replies per recipient: SMTP (unlike LMTP) has one reply for DATA, so
// everything that can be decided per recipient is decided at RCPT time —
// unknown user (550 5.1.1), relaying (550 5.7.1), a mailbox known to be
// full (452 4.2.2). What fails only at DATA time (a mailbox that fills up
// meanwhile) is handled by delivery.Deliverer: the message is accepted if
// some target took it and the failures can be bounced to the sender (RFC
// 3464 report); with a null sender it is refused temporarily as a whole,
// before anything is written when quota is the cause.
//
// Smuggling (RFC 5321 §4.1.1.4): go-smtp's DATA reader ends the message
// only at <CRLF>.<CRLF>; bare LF or CR around a dot stays message content,
// and bare LFs are stored as CRLF. After STARTTLS go-smtp starts a new
// reader, so anything pipelined before the handshake is dropped (RFC 3207
// §4.2). Both are covered by raw-socket tests.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/spam"
)

// Mode says what a server is for.
type Mode int

// Modes.
const (
	// Inbound is the MX (port 25): mail for local domains from anyone;
	// relaying only after AUTH (if Auth is set at all).
	Inbound Mode = iota
	// Submission is for our users' clients (RFC 6409, RFC 8314): AUTH is
	// required before MAIL and the sender must be theirs.
	Submission
)

// Defaults of zero Server fields. Connection limits and the pre-login and
// command timeouts are internal/netserver's.
const (
	DefaultMaxMessageBytes = 50 << 20
	DefaultMaxRecipients   = 1000
	// DefaultMaxLineLength bounds command lines and DATA lines. RFC 5321
	// §4.5.3.1.6 says 1000 octets, but real HTML mail has longer lines:
	// refusing those would lose mail, so we are generous yet bounded.
	DefaultMaxLineLength = 8 << 10
	// RFC 5321 §4.5.3.2 suggests 5 minutes for commands and 10 for the
	// data terminator.
	DefaultReadTimeout  = 5 * time.Minute
	DefaultWriteTimeout = 5 * time.Minute
	DefaultDataTimeout  = 10 * time.Minute
	// DefaultMaxErrors is how many refused commands a connection may
	// collect before it is dropped.
	DefaultMaxErrors = 10
	// DefaultMaxInFlightBytes bounds the message bytes held in memory by
	// all connections together (each may hold up to MaxMessageBytes).
	DefaultMaxInFlightBytes = 512 << 20
)

// Server is an SMTP server. Its exported fields are its configuration;
// set them before Serve and do not change them afterwards. Zero fields take
// the defaults above; a negative limit means "no limit".
type Server struct {
	Mode Mode
	// Deliverer resolves senders and recipients and delivers accepted
	// mail (required). The CLI builds one (delivery.New) for every SMTP
	// server and the outbound queue; its Queue takes mail for other
	// domains, and when nil nothing is relayed.
	Deliverer *delivery.Deliverer
	// Auth authenticates AUTH PLAIN/LOGIN. Required for Submission; on
	// Inbound, nil means AUTH is not offered.
	Auth *auth.Authenticator

	// DNS, if set, makes the MX port check SPF, DKIM and DMARC on every
	// message and add an Authentication-Results header (RFC 8601).
	DNS dnsresolver.Resolver
	// DMARCPolicy is mailauth.PolicyEnforce (default), PolicyJunk or PolicyOff.
	DMARCPolicy string
	// ARCTrustedSealers are forwarders whose passing ARC chain excuses
	// a DMARC failure (mailauth.Verdict.TrustARC).
	ARCTrustedSealers []string
	// DMARCReport, if set, is told each DMARC evaluation on the MX port
	// and the client's address, for the aggregate reports we send
	// (RFC 7489 §7.2). It must not block.
	DMARCReport func(remoteIP string, v mailauth.Verdict)
	// Spam, if set, runs the anti-spam checks on the MX port for clients
	// that did not log in (spam.go).
	Spam *spam.Checker
	// HoldFrom, if set, holds the queued outbound mail of a sender
	// (queue.HoldFrom): an account whose burst to new recipients makes it
	// look compromised has what it queued kept for review (spam.go).
	HoldFrom func(ctx context.Context, addr string) (int, error)
	// TLSConfig enables STARTTLS (Serve) and is needed by ServeTLS.
	TLSConfig *tls.Config
	// Hostname is our name in the greeting and in Received:.
	Hostname string

	MaxMessageBytes int64
	MaxRecipients   int
	MaxLineLength   int
	MaxErrors       int
	// Limits are the connection limits and the pre-login and command
	// timeouts. The pre-login ones apply to Submission only: on the MX
	// port nobody logs in.
	netserver.Limits
	// MaxInFlightBytes bounds the message data buffered by all
	// connections at once; past it, DATA gets 452 4.3.1 (try later).
	MaxInFlightBytes int64
	ReadTimeout      time.Duration // waiting for a command (RFC 5321 §4.5.3.2)
	WriteTimeout     time.Duration
	DataTimeout      time.Duration

	// AllowPlaintextLoopback lets AUTH run without TLS when the client is
	// on a loopback address (tests, local tools). Never over the network.
	AllowPlaintextLoopback bool

	Logger *slog.Logger

	once     sync.Once
	inner    *smtp.Server
	dns      dnsresolver.Resolver // DNS behind a TTL cache, for mail authentication
	net      netserver.Server
	queue    *connQueue
	ctx      context.Context
	cancel   context.CancelFunc
	connSeq  atomic.Uint64
	shutting atomic.Bool
	inFlight atomic.Int64 // message bytes buffered now
	// onData, when set (tests), runs when a transaction enters DATA and
	// counts as in progress for Shutdown.
	onData func()
}

func (s *Server) init() {
	s.once.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		if s.DNS != nil {
			s.dns = s.DNS
			if _, cached := s.DNS.(*dnsresolver.Cache); !cached {
				s.dns = &dnsresolver.Cache{Resolver: s.DNS, Timeout: mailauth.LookupTimeout}
			}
		}
		s.initConns()
		in := smtp.NewServer(backend{s})
		in.Domain = s.hostname()
		in.TLSConfig = s.TLSConfig
		in.MaxMessageBytes = netserver.Pick(s.MaxMessageBytes, DefaultMaxMessageBytes)
		in.MaxRecipients = netserver.Pick(s.MaxRecipients, DefaultMaxRecipients)
		in.MaxLineLength = netserver.Pick(s.MaxLineLength, DefaultMaxLineLength)
		in.ReadTimeout = netserver.Pick(s.ReadTimeout, DefaultReadTimeout)
		in.WriteTimeout = netserver.Pick(s.WriteTimeout, DefaultWriteTimeout)
		// go-smtp's switch is server-wide; our session decides per
		// connection (TLS, or loopback with AllowPlaintextLoopback) in
		// AuthMechanisms and Auth.
		in.AllowInsecureAuth = true
		in.EnableSMTPUTF8 = true
		in.EnableDSN = true
		in.ErrorLog = errorLog{s.log()}
		s.inner = in
		go in.Serve(s.queue)
	})
}

// Serve accepts plain connections on l (STARTTLS offered if TLSConfig is
// set) and serves them until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	if s.Mode == Submission && s.Auth == nil {
		return errors.New("smtpd: submission needs Auth")
	}
	return s.serve(l, false)
}

// ServeTLS accepts implicit-TLS connections on l (port 465, RFC 8314 §3.3).
func (s *Server) ServeTLS(l net.Listener) error {
	s.init()
	if s.TLSConfig == nil {
		return errors.New("smtpd: ServeTLS needs TLSConfig")
	}
	if s.Mode == Submission && s.Auth == nil {
		return errors.New("smtpd: submission needs Auth")
	}
	return s.serve(l, true)
}

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown.
var ErrServerClosed = errors.New("smtpd: server closed")

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	if s.Deliverer == nil {
		l.Close()
		return errors.New("smtpd: Server needs a Deliverer")
	}
	if s.shutting.Load() {
		l.Close()
		return ErrServerClosed
	}
	err := s.net.Serve(l, implicitTLS)
	if errors.Is(err, netserver.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes idle connections at once, lets
// transactions in DATA finish (their connection is closed right after the
// reply), and returns when all connections are gone or ctx ends; then it
// closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.shutting.Store(true)
	err := s.net.Shutdown(ctx)
	s.inner.Close() // its listener (s.queue) and whatever is left
	s.cancel()
	return err
}

func (s *Server) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return "localhost"
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) dataTimeout() time.Duration {
	return netserver.Pick(s.DataTimeout, DefaultDataTimeout)
}
func (s *Server) maxErrors() int { return netserver.Pick(s.MaxErrors, DefaultMaxErrors) }

// pick and pick64 resolve settings as netserver does: zero is the
// default, negative is 0 (go-smtp's "no limit").
func pick(v, def int) int       { return netserver.Pick(v, def) }
func pick64(v, def int64) int64 { return netserver.Pick(v, def) }

// backend is the go-smtp Backend: one session per connection.
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ss := newSession(b.s, c)
	if ss.tc != nil {
		ss.tc.sess.Store(ss) // tells the deadlines when AUTH succeeded
	}
	return loggedSession{ss}, nil
}

// errorLog adapts slog to go-smtp's Printf logger (panics, conn errors).
type errorLog struct{ l *slog.Logger }

// Printf logs a panic (recovered by go-smtp) as an error, the rest
// (client I/O and handshake failures) as information.
func (e errorLog) Printf(format string, v ...any) { e.log(fmt.Sprintf(format, v...)) }

// Println is Printf without a format.
func (e errorLog) Println(v ...any) { e.log(fmt.Sprint(v...)) }

func (e errorLog) log(msg string) {
	if strings.HasPrefix(msg, "panic") {
		netserver.CountPanic("smtp")
		e.l.Error(msg)
		return
	}
	e.l.Info(msg)
}
