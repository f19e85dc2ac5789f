// Package managesieve is youju's ManageSieve server (RFC 5804): users
// upload, check, list and activate their Sieve scripts (internal/sieve)
// from Thunderbird's Sieve add-on, Roundcube's managesieve plugin or
// sieve-connect, on port 4190 with STARTTLS and the same authentication
// as IMAP.
package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

// Defaults of the zero fields of Server.
const (
	DefaultIdleTimeout      = 30 * time.Minute
	DefaultWriteTimeout     = 2 * time.Minute
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxBadCommands   = 10
	DefaultMaxAuthFailures  = 3
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = netserver.ErrServerClosed

// Server is a ManageSieve server; its exported fields are its
// configuration.
type Server struct {
	Scripts sieve.Scripts
	Auth    *auth.Authenticator
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	Hostname  string
	// AllowPlaintextLoopback accepts AUTHENTICATE without TLS from a
	// loopback client (as IMAP and POP3 do).
	AllowPlaintextLoopback bool
	// MaxRedirects is announced as MAXREDIRECTS (RFC 5804 §1.7).
	MaxRedirects int
	Logger       *slog.Logger

	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
	MaxBadCommands   int
	MaxAuthFailures  int
	netserver.Limits

	once sync.Once
	net  netserver.Server
}

func (s *Server) conns() *netserver.Server {
	s.once.Do(func() {
		s.net = netserver.Server{
			Proto: "managesieve", Handler: s.handle, Logger: s.logger(),
			Refusal: "BYE (TRYLATER) \"Too many connections, try again later\"\r\n", // RFC 5804 §1.3
			Limits:  s.Limits,
		}
	})
	return &s.net
}

// Serve accepts connections on l (port 4190); STARTTLS upgrades them.
func (s *Server) Serve(l net.Listener) error {
	if s.Scripts == nil || s.Auth == nil {
		return errors.New("managesieve: Server needs Scripts and Auth")
	}
	return s.conns().Serve(l, false)
}

// Shutdown stops accepting and ends sessions waiting for a command.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns().Shutdown(ctx) }

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func pick[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (s *Server) handle(c *netserver.Conn) {
	sess := &session{srv: s, raw: c, remote: c.Remote}
	sess.log = s.logger().With("proto", "managesieve", "conn", c.ID, "remote", c.Remote.String())
	sess.setConn(c)
	c.OnShutdown(func() {
		if sess.idle.Load() {
			_ = c.Close()
		}
	})
	sess.run()
}

// session is one client connection.
type session struct {
	srv    *Server
	raw    *netserver.Conn
	conn   net.Conn
	remote netip.Addr
	r      *bufio.Reader
	w      *bufio.Writer
	log    *slog.Logger
	idle   atomic.Bool
	tls    bool

	authed    bool
	acct      store.Account
	bad       int
	authFails int
}

type timeoutWriter struct {
	c net.Conn
	d time.Duration
}

func (t *timeoutWriter) Write(p []byte) (int, error) {
	_ = t.c.SetWriteDeadline(time.Now().Add(t.d))
	return t.c.Write(p)
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.r = bufio.NewReaderSize(c, 4096)
	s.w = bufio.NewWriterSize(&timeoutWriter{c: c, d: pick(s.srv.WriteTimeout, DefaultWriteTimeout)}, 4096)
}

// reply is a response: OK, NO or BYE, an optional response code and a
// human-readable text (RFC 5804 §1.3).
type reply struct {
	status string // "OK", "NO", "BYE"
	code   string
	text   string
	bad    bool // counts as a bad command
	auth   bool // counts as a failed login
	end    bool // close the connection after it
}

func no(code, text string) *reply { return &reply{status: "NO", code: code, text: text} }

func (s *session) write(r *reply) {
	s.w.WriteString(r.status)
	if r.code != "" {
		s.w.WriteString(" (" + r.code + ")")
	}
	if r.text != "" {
		s.w.WriteString(" " + quote(r.text))
	}
	s.w.WriteString("\r\n")
}

func (s *session) run() {
	defer s.raw.Close()
	s.capabilities()
	s.write(&reply{status: "OK", text: "youju ManageSieve ready"})
	for !s.raw.ShuttingDown() {
		if err := s.w.Flush(); err != nil {
			return
		}
		_ = s.raw.Await(pick(s.srv.IdleTimeout, DefaultIdleTimeout))
		s.idle.Store(true)
		cmd, err := ReadCommand(s.r)
		s.idle.Store(false)
		var se *errSyntax
		switch {
		case errors.As(err, &se):
			if s.finish(&reply{status: "NO", text: "Syntax error: " + se.msg, bad: true}) {
				return
			}
			continue
		case errors.Is(err, errLineTooLong):
			s.write(&reply{status: "BYE", text: "Command line too long"})
			_ = s.w.Flush()
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("managesieve: connection ended", "err", err)
				s.write(&reply{status: "BYE", text: "Bad input"})
				_ = s.w.Flush()
			}
			return
		}
		s.log.Debug("managesieve: command", "cmd", cmd.Name)
		if s.finish(s.dispatch(cmd)) {
			return
		}
		if s.authed {
			s.raw.Authenticated()
		}
	}
	s.write(&reply{status: "BYE", text: "Server shutting down"})
	_ = s.w.Flush()
}

// finish writes r and reports whether the session ends.
func (s *session) finish(r *reply) bool {
	if r == nil {
		return false
	}
	if r.bad {
		s.bad++
	}
	if r.auth {
		s.authFails++
	}
	switch {
	case s.bad >= pick(s.srv.MaxBadCommands, DefaultMaxBadCommands):
		r = &reply{status: "BYE", text: "Too many bad commands", end: true}
	case s.authFails >= pick(s.srv.MaxAuthFailures, DefaultMaxAuthFailures):
		r = &reply{status: "BYE", text: "Too many failed logins", end: true}
	}
	s.write(r)
	if r.end || r.status == "BYE" {
		_ = s.w.Flush()
		return true
	}
	return false
}

func (s *session) plaintextOK() bool {
	return s.tls || s.srv.AllowPlaintextLoopback && s.remote.IsLoopback()
}

func (s *session) tlsState() *tls.ConnectionState {
	if tc, ok := s.conn.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

// capabilities writes the capability lines (RFC 5804 §1.7).
func (s *session) capabilities() {
	line := func(k, v string) {
		s.w.WriteString(quote(k))
		if v != "" || k == "SASL" {
			s.w.WriteString(" " + quote(v))
		}
		s.w.WriteString("\r\n")
	}
	line("IMPLEMENTATION", "youju")
	mechs := ""
	if !s.authed && s.plaintextOK() {
		mechs = strings.Join(s.srv.Auth.Mechanisms(s.tlsState()), " ")
	}
	line("SASL", mechs)
	line("SIEVE", strings.Join(sieve.Extensions, " "))
	if s.srv.TLSConfig != nil && !s.tls {
		line("STARTTLS", "")
	}
	line("MAXREDIRECTS", fmt.Sprint(pick(s.srv.MaxRedirects, sieve.DefaultMaxRedirects)))
	if s.authed {
		line("OWNER", s.acct.Address)
	}
	line("VERSION", "1.0")
}

func (s *session) handshake() error {
	tc := tls.Server(s.raw, s.srv.TLSConfig)
	d := pick(s.srv.HandshakeTimeout, DefaultHandshakeTimeout)
	ctx, cancel := context.WithTimeout(s.raw.Context(), d)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	s.tls = true
	s.setConn(tc)
	return nil
}
