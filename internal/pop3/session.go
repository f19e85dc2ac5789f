package pop3

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/store"
)

// Line limits. RFC 2449 §4: a command line is at most 255 octets including
// CRLF; we accept twice that because some clients send long user names.
// RFC 5034 §4 exempts AUTH and its responses from the limit; maxAuthLine
// bounds those (a PLAIN response with a long password fits easily).
const (
	maxCommandLine = 512
	maxAuthLine    = 4096
	// maxDiscard bounds how much of an over-long line we read and drop
	// before giving up on the client.
	maxDiscard = 64 << 10
	readBuf    = 1 << 10
	writeBuf   = 16 << 10
)

type state int

const (
	stateAuthorization state = iota // RFC 1939 §4
	stateTransaction                // RFC 1939 §5
)

// session is one client connection.
type session struct {
	srv         *Server
	raw         *netserver.Conn // the TCP connection
	conn        net.Conn        // raw, or the TLS connection over it
	remote      netip.Addr
	implicitTLS bool
	tls         bool
	r           *bufio.Reader
	w           *bufio.Writer // nil while waiting for a command
	tw          *timeoutWriter
	log         *slog.Logger
	idle        atomic.Bool // waiting for a command; Shutdown may close it
	closeOnce   sync.Once

	state     state
	user      string // from USER, until PASS
	acct      store.Account
	drop      *maildrop
	locked    bool
	lease     *lease // the maildrop lease in a shared store (lease.go)
	bad       int
	authFails int
}

// errLineTooLong is returned by readLine for a line over its limit.
var errLineTooLong = errors.New("line too long")

// errQuit ends the session after a reply.
var errQuit = errors.New("quit")

func newSession(srv *Server, c *netserver.Conn) *session {
	s := &session{srv: srv, raw: c, remote: c.Remote, implicitTLS: c.ImplicitTLS}
	s.log = srv.logger().With("proto", "pop3", "conn", c.ID, "remote", c.Remote.String())
	s.setConn(c)
	return s
}

// setConn (re)builds the buffered reader and writer on c. After STLS the old
// reader is dropped with whatever the client pipelined before the
// handshake (RFC 2595 §4, the STARTTLS command-injection attack).
func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.r = bufio.NewReaderSize(c, readBuf)
	s.tw = &timeoutWriter{c: c, d: orDefault(s.srv.WriteTimeout, DefaultWriteTimeout)}
	s.releaseWriter()
	s.acquireWriter()
}

// writerPool lends output buffers to sessions while they answer: a session
// waiting for its next command holds none, so idle connections are cheap.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBuf) }}

func (s *session) acquireWriter() {
	if s.w == nil {
		s.w = writerPool.Get().(*bufio.Writer)
		s.w.Reset(s.tw)
	}
}

// releaseWriter returns the (flushed) writer to the pool.
func (s *session) releaseWriter() {
	if s.w != nil {
		s.w.Reset(nil)
		writerPool.Put(s.w)
		s.w = nil
	}
}

// timeoutWriter gives each write its own deadline, so that a slow but live
// client can download a large message while a stuck one is dropped.
type timeoutWriter struct {
	c net.Conn
	d time.Duration
}

func (t *timeoutWriter) Write(p []byte) (int, error) {
	_ = t.c.SetWriteDeadline(time.Now().Add(t.d))
	return t.c.Write(p)
}

func (s *session) close() {
	s.closeOnce.Do(func() { _ = s.raw.Close() })
}

// release gives the maildrop lock back, once.
func (s *session) release() {
	if s.lease != nil {
		s.lease.release()
		s.lease = nil
	}
	if s.locked {
		s.srv.unlock(s.acct.ID)
		s.locked = false
	}
}

func (s *session) run() {
	defer s.close()
	defer s.release()
	if s.implicitTLS {
		// Nothing is lost by cutting a handshake short: Shutdown may.
		s.idle.Store(true)
		if s.raw.ShuttingDown() { // else the OnShutdown hook sees idle
			return
		}
		err := s.handshake()
		s.idle.Store(false)
		if err != nil {
			s.log.Debug("pop3: TLS handshake failed", "err", err)
			return
		}
	}
	host := s.srv.Hostname
	if host == "" {
		host = "youju"
	}
	// RFC 1939 §4: the greeting. No APOP timestamp: APOP is not offered.
	s.ok(host + " POP3 server ready")
	s.log.Debug("pop3: connected")
	for !s.raw.ShuttingDown() {
		if err := s.step(); err != nil {
			if !errors.Is(err, errQuit) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("pop3: connection ended", "err", err)
			}
			_ = s.w.Flush()
			s.releaseWriter()
			return
		}
	}
	_ = s.w.Flush()
	s.releaseWriter()
}

// step reads and runs one command. A non-nil error ends the session.
func (s *session) step() error {
	// RFC 2449 §6.6 PIPELINING: answer a batch of commands in one write.
	if s.r.Buffered() == 0 {
		if err := s.w.Flush(); err != nil {
			return err
		}
		s.releaseWriter()
	}
	s.idle.Store(true)
	line, err := s.readLine(maxAuthLine)
	s.idle.Store(false)
	s.acquireWriter()
	// RFC 5034 §4: the RFC 2449 line limit does not bind AUTH with an
	// initial response.
	if err == nil && len(line) > maxCommandLine && !(len(line) > 5 && strings.EqualFold(string(line[:5]), "AUTH ")) {
		err = errLineTooLong
	}
	if errors.Is(err, errLineTooLong) {
		return s.fail(&Error{Text: "Command line too long", bad: true})
	}
	if err != nil {
		return err
	}
	cmd, err := ParseCommand(line)
	if err != nil {
		return s.fail(&Error{Text: "Malformed command: " + err.Error(), bad: true})
	}
	s.log.Debug("pop3: command", "cmd", cmd.Name)
	err = s.fail(s.dispatch(cmd))
	if s.state == stateTransaction {
		s.raw.Authenticated() // leaves the pre-login share of the limits
	}
	return err
}

// fail writes the -ERR of a protocol error and counts bad commands; other
// errors pass through and end the session.
func (s *session) fail(err error) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Detail != nil {
		s.log.Warn("pop3: command failed", "text", pe.Text, "err", pe.Detail)
	}
	s.reply("-ERR", pe.Code, pe.Text)
	if pe.bad {
		s.bad++
		if s.bad >= orDefault(s.srv.MaxBadCommands, DefaultMaxBadCommands) {
			s.reply("-ERR", "", "Too many bad commands, closing connection")
			return errQuit
		}
	}
	if pe.authFail {
		s.authFails++
		if s.authFails >= orDefault(s.srv.MaxAuthFailures, DefaultMaxAuthFailures) {
			s.reply("-ERR", "", "Too many failed logins, closing connection")
			return errQuit
		}
	}
	if pe.fatal {
		return errQuit
	}
	return nil
}

// readLine reads one line without its line ending (CRLF, or a bare LF from
// sloppy clients), with the idle (or pre-login) deadline and the command
// timeout from its first byte (netserver.Conn.Await). Lines longer than the reader's
// small buffer (AUTH responses) are gathered up to limit.
func (s *session) readLine(limit int) ([]byte, error) {
	_ = s.raw.Await(orDefault(s.srv.IdleTimeout, DefaultIdleTimeout))
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		var long []byte
		total := 0
		for {
			total += len(line)
			if total <= limit+2 {
				long = append(long, line...) // ReadSlice's data is overwritten by the next read
			}
			if !errors.Is(err, bufio.ErrBufferFull) || total > maxDiscard {
				break
			}
			line, err = s.r.ReadSlice('\n')
		}
		if err != nil {
			return nil, fmt.Errorf("over-long line: %w", err)
		}
		if total > limit+2 {
			return nil, errLineTooLong
		}
		line = long
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > limit {
		return nil, errLineTooLong
	}
	return line, nil
}

// ok writes a positive single-line response.
func (s *session) ok(text string) { s.reply("+OK", "", text) }

// reply writes a status line with an optional RFC 2449 §8 response code.
func (s *session) reply(status, code, text string) {
	s.w.WriteString(status)
	if code != "" {
		s.w.WriteString(" [")
		s.w.WriteString(code)
		s.w.WriteByte(']')
	}
	if text != "" {
		s.w.WriteByte(' ')
		s.w.WriteString(text)
	}
	s.w.WriteString("\r\n")
}

// handshake runs the TLS handshake on the raw connection.
func (s *session) handshake() error {
	tc := tls.Server(s.raw, s.srv.TLSConfig)
	_ = s.raw.SetDeadline(time.Now().Add(orDefault(s.srv.HandshakeTimeout, DefaultHandshakeTimeout)))
	ctx, cancel := context.WithTimeout(s.ctx(), orDefault(s.srv.HandshakeTimeout, DefaultHandshakeTimeout))
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	_ = s.raw.SetDeadline(time.Time{})
	s.tls = true
	s.setConn(tc)
	return nil
}

// plaintextOK reports whether a password may be sent on this connection:
// over TLS, or in the clear from loopback when the server allows it
// (RFC 2595 §4; RFC 8314 §3 prefers TLS).
func (s *session) plaintextOK() bool {
	return s.tls || s.srv.AllowPlaintextLoopback && s.remote.IsLoopback()
}

type handler func(*session, Command) error

var authorizationCmds = map[string]handler{
	"CAPA": (*session).cmdCapa,
	"USER": (*session).cmdUser,
	"PASS": (*session).cmdPass,
	"AUTH": (*session).cmdAuth,
	"STLS": (*session).cmdStls,
	"QUIT": (*session).cmdQuit,
}

var transactionCmds = map[string]handler{
	"CAPA": (*session).cmdCapa,
	"STAT": (*session).cmdStat,
	"LIST": (*session).cmdList,
	"UIDL": (*session).cmdUidl,
	"RETR": (*session).cmdRetr,
	"TOP":  (*session).cmdTop,
	"DELE": (*session).cmdDele,
	"NOOP": (*session).cmdNoop,
	"RSET": (*session).cmdRset,
	"QUIT": (*session).cmdQuit,
}

func (s *session) dispatch(cmd Command) error {
	cmds := authorizationCmds
	if s.state == stateTransaction {
		cmds = transactionCmds
	}
	if h, ok := cmds[cmd.Name]; ok {
		if cmd.Name != "AUTH" && cmd.Name != "STLS" {
			// Only AUTH and STLS read from the client: for the others a
			// hangup cancels the store calls (issue 13 point 5).
			defer s.raw.Busy().Done()
		}
		return h(s, cmd)
	}
	if _, ok := authorizationCmds[cmd.Name]; ok {
		return &Error{Text: "Command not valid in this state", bad: true}
	}
	if _, ok := transactionCmds[cmd.Name]; ok {
		return &Error{Text: "Command not valid in this state", bad: true}
	}
	return &Error{Text: "Unknown command", bad: true}
}

// cmdCapa lists the capabilities of the current state (RFC 2449 §5).
// USER and SASL are hidden where a password would be refused, like the
// LOGINDISABLED of IMAP (RFC 2595 §4); STLS only before login.
func (s *session) cmdCapa(cmd Command) error {
	if len(cmd.Args) != 0 {
		return &Error{Text: "CAPA takes no arguments", bad: true}
	}
	s.ok("Capability list follows")
	s.w.WriteString("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n")
	if s.state == stateAuthorization {
		if s.plaintextOK() {
			s.w.WriteString("USER\r\nSASL")
			for _, m := range s.saslMechanisms() {
				s.w.WriteString(" " + m)
			}
			s.w.WriteString("\r\n")
		}
		if s.srv.TLSConfig != nil && !s.tls {
			s.w.WriteString("STLS\r\n")
		}
	}
	s.w.WriteString("IMPLEMENTATION youju\r\n.\r\n")
	return nil
}

// cmdStls starts TLS (RFC 2595 §4).
func (s *session) cmdStls(cmd Command) error {
	switch {
	case len(cmd.Args) != 0:
		return &Error{Text: "STLS takes no arguments", bad: true}
	case s.tls:
		return &Error{Text: "Command not permitted when TLS active"}
	case s.srv.TLSConfig == nil:
		return &Error{Text: "TLS not available"}
	}
	s.ok("Begin TLS negotiation")
	if err := s.w.Flush(); err != nil {
		return err
	}
	if err := s.handshake(); err != nil {
		return fmt.Errorf("STLS handshake: %w", err)
	}
	// RFC 2595 §4: the client must discard what it knew; so do we.
	s.user = ""
	s.log.Debug("pop3: TLS started")
	return nil
}

// cmdQuit ends the session; in the TRANSACTION state it enters UPDATE
// (RFC 1939 §6).
func (s *session) cmdQuit(cmd Command) error {
	if s.state != stateTransaction {
		s.ok("Bye")
		return errQuit
	}
	// The UPDATE state completes even if the client hangs up after QUIT
	// (RFC 1939 §6), but only while this session still owns the maildrop.
	uctx := context.WithoutCancel(s.ctx())
	if s.lease != nil && !s.lease.held(uctx) {
		s.release()
		s.log.Warn("pop3: maildrop lease lost before UPDATE; nothing deleted", "user", s.acct.Address)
		s.reply("-ERR", codeSysTemp, "Maildrop lock lost; no messages deleted")
		return errQuit
	}
	n, err := s.update(uctx)
	// Unlock before answering: a client that reconnects at once after the
	// +OK must not find its own maildrop in use.
	s.release()
	if err != nil {
		s.log.Error("pop3: update failed", "user", s.acct.Address, "err", err)
		s.reply("-ERR", codeSysTemp, "Some deleted messages not removed")
		return errQuit
	}
	mDeleted.With().Add(float64(n))
	s.ok("Bye, " + strconv.Itoa(n) + " message(s) deleted")
	return errQuit
}
