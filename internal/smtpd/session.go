package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/spam"
	"github.com/youju/youju/internal/store"
)

// session is one SMTP session (go-smtp creates it at EHLO/HELO, and again
// after STARTTLS). go-smtp calls its methods from one goroutine at a time.
type session struct {
	s      *Server
	c      *smtp.Conn
	tc     *trackedConn // nil only if the listener was not ours
	remote netip.Addr
	tls    *tls.ConnectionState
	log    *slog.Logger
	id     string

	// mu guards what a BDAT transfer's Data goroutine (go-smtp runs
	// Data concurrently with the command loop for CHUNKING) shares with
	// the command loop: the account, the transaction, the error count.
	mu     sync.Mutex
	acct   *store.Account // set by a successful AUTH
	errs   int
	env    *delivery.Envelope
	mailSz int64
	utf8   bool
	spf    *mailauth.SPFCheck // started at MAIL FROM on the MX port
	// dataDone is closed when the running Data call returns.
	dataDone chan struct{}

	// heloMu guards the HELO name's anti-spam score, kept for the
	// session's next messages (heloScore).
	heloMu   sync.Mutex
	heloDone bool
	heloName string
	helo     spam.Score
}

func newSession(s *Server, c *smtp.Conn) *session {
	ss := &session{s: s, c: c, id: fmt.Sprintf("%x", s.connSeq.Add(1))}
	nc := c.Conn()
	if t, ok := nc.(*tls.Conn); ok {
		st := t.ConnectionState()
		ss.tls = &st
		nc = t.NetConn()
	}
	ss.tc, _ = nc.(*trackedConn)
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		ss.remote = ap.Addr().Unmap()
	}
	ss.log = s.log().With("conn", ss.id, "remote", ss.remote.String(), "helo", c.Hostname(), "tls", ss.tls != nil)
	ss.log.Debug("session")
	return ss
}

// ctx bounds one store or queue operation.
func (ss *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(ss.connCtx(), ss.s.dataTimeout())
}

// cmdCtx is ctx for a command whose lookups are mostly answered from
// memory (RCPT's resolution, MAIL's sender check): the same bound, its
// timer made only if they wait (lazyDeadline).
func (ss *session) cmdCtx() (context.Context, context.CancelFunc) {
	return withLazyDeadline(ss.connCtx(), time.Now().Add(ss.s.dataTimeout()))
}

// connCtx ends with the connection (or the server).
func (ss *session) connCtx() context.Context {
	if ss.tc != nil {
		return ss.tc.Context()
	}
	return ss.s.ctx
}

func (ss *session) account() *store.Account {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.acct
}

// Reset ends the transaction (RSET, EHLO, after DATA).
//
// When a BDAT transfer is abandoned (RSET, EHLO), go-smtp closes the pipe
// its Data goroutine reads and moves on without waiting for it; that
// goroutine then reports into the connection's next transaction. So we
// wait here, briefly, for a running Data to return (it does at once: its
// reader fails).
func (ss *session) Reset() {
	ss.mu.Lock()
	done := ss.dataDone
	ss.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			ss.logger().Warn("abandoned message transfer still running")
		}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.env = nil
	ss.mailSz = 0
	ss.utf8 = false
	if ss.spf != nil {
		ss.spf.Stop()
		ss.spf = nil
	}
}

// logger returns the session logger (AUTH adds the user to it).
func (ss *session) logger() *slog.Logger {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.log
}

// Logout ends the session.
func (ss *session) Logout() error { return nil }

// AuthMechanisms are offered only where a password may travel: under TLS,
// or on loopback when the configuration allows it (RFC 4954 §4, RFC 8314).
// SCRAM too, though the password never crosses: RFC 5802 §9 warns that an
// eavesdropped exchange still allows an offline dictionary attack.
// SCRAM-SHA-256-PLUS is listed where the TLS channel can be bound.
func (ss *session) AuthMechanisms() []string {
	if !ss.authAllowed() {
		return nil
	}
	return ss.s.Auth.Mechanisms(ss.tls)
}

func (ss *session) authAllowed() bool {
	if ss.s.Auth == nil {
		return false
	}
	return ss.tls != nil || (ss.s.AllowPlaintextLoopback && ss.remote.IsLoopback())
}

var errEncryptionRequired = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
	Message: "Encryption required for requested authentication mechanism"}

// Auth starts a SASL exchange (go-smtp drives it).
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.authAllowed() {
		return nil, ss.fail(errEncryptionRequired)
	}
	ctx := ss.s.ctx // the tarpit of a failed login ends with the connection
	if ss.tc != nil {
		ctx = ss.tc.Context()
	}
	srv, err := ss.s.Auth.SASL(ctx, mech, store.ServiceSMTP, ss.remote, ss.tls, func(a store.Account) {
		ss.mu.Lock()
		ss.acct = &a
		ss.log = ss.log.With("user", a.Address)
		ss.mu.Unlock()
		ss.logger().Info("authenticated", "mech", mech)
	})
	if err != nil {
		return nil, ss.fail(smtp.ErrAuthUnknownMechanism)
	}
	return saslServer{srv, ss}, nil
}

// saslServer maps auth errors onto RFC 4954 §6 replies.
type saslServer struct {
	sasl.Server
	ss *session
}

func (x saslServer) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := x.Server.Next(resp)
	if err == nil {
		return ch, done, nil
	}
	x.ss.logger().Info("authentication failed", "err", err)
	x.ss.authFailed(err)
	var se *auth.SCRAMError
	switch {
	case errors.As(err, &se):
		// RFC 4954 §6 reply with the RFC 5802 §7 error value, which never
		// tells whether the user exists.
		err = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "SCRAM authentication failed: " + se.Value}
	case errors.Is(err, auth.ErrThrottled):
		err = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failures, try again later"}
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrAccountDisabled),
		errors.Is(err, auth.ErrServiceDisabled), errors.Is(err, auth.ErrMalformedSASL):
		err = smtp.ErrAuthFailed
	default:
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			err = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
		}
	}
	return ch, true, x.ss.fail(err)
}

// fail counts a refused command and, past the limit, makes the reply the
// last one on this connection.
func (ss *session) fail(err error) error {
	ss.mu.Lock()
	ss.errs++
	n := ss.errs
	ss.mu.Unlock()
	if n >= ss.s.maxErrors() && ss.tc != nil && ss.s.maxErrors() > 0 {
		ss.logger().Warn("too many errors, dropping connection")
		ss.tc.closeAfter.Store(true)
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many errors, closing connection"}
	}
	return err
}

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errNotYourAddr  = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address not owned by the authenticated user"}
	errBadSender    = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	// RFC 6531 §3.5: non-ASCII address without SMTPUTF8.
	errNeedUTF8 = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address requires SMTPUTF8"}
)

// Mail starts a transaction.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	acct := ss.account()
	if ss.s.Mode == Submission && acct == nil {
		return ss.fail(errAuthRequired) // RFC 4954 §6
	}
	if from != "" {
		if _, err := delivery.ParseAddress(from); err != nil {
			return ss.fail(errBadSender)
		}
		if !opts.UTF8 && !delivery.IsASCII(from) {
			return ss.fail(errNeedUTF8)
		}
	}
	if acct != nil && from != "" {
		ctx, cancel := ss.cmdCtx()
		defer cancel()
		ok, err := ss.s.Deliverer.Resolver.MaySendAs(ctx, *acct, from)
		if err != nil {
			return ss.fail(ss.reply(err))
		}
		if !ok {
			ss.logger().Info("sender refused", "from", from)
			return ss.fail(errNotYourAddr)
		}
	}
	if err := ss.spamMail(from); err != nil {
		return ss.fail(err)
	}
	var spf *mailauth.SPFCheck
	if ss.s.Mode == Inbound && acct == nil && ss.s.dns != nil {
		// SPF needs only the connection and MAIL FROM (RFC 7208 §2.4):
		// its queries run while the client sends RCPT and DATA.
		spf = mailauth.StartSPF(ss.connCtx(), ss.s.dns, net.IP(ss.remote.AsSlice()), ss.c.Hostname(), from)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.spf != nil {
		ss.spf.Stop() // a MAIL without RSET; go-smtp refuses it, but be safe
	}
	ss.env = &delivery.Envelope{From: from, Ret: string(opts.Return), EnvID: opts.EnvelopeID}
	ss.mailSz = opts.Size
	ss.utf8 = opts.UTF8
	ss.spf = spf
	return nil
}

// Rcpt resolves the recipient now, so that unknown users, relaying and
// known-full mailboxes are refused per recipient (RFC 5321 §3.3).
func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.mu.Lock()
	env, utf8, size := ss.env, ss.utf8, ss.mailSz
	ss.mu.Unlock()
	if env == nil {
		return ss.fail(&smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"})
	}
	if !utf8 && !delivery.IsASCII(to) {
		return ss.fail(errNeedUTF8)
	}
	ctx, cancel := ss.cmdCtx()
	defer cancel()
	res, err := ss.s.Deliverer.Resolver.Resolve(ctx, to, ss.account() != nil)
	if err == nil && len(res.Remote) > 0 && ss.s.Deliverer.Queue == nil {
		// No outbound queue configured: local targets of an alias
		// still get the mail; a purely remote recipient is refused.
		if len(res.Local) == 0 {
			err = delivery.ErrRelayDenied
		} else {
			ss.logger().Warn("no queue: remote alias targets dropped", "rcpt", to, "remote", res.Remote)
			res.Remote = nil
		}
	}
	if err == nil {
		err = checkQuota(res, size)
	}
	if err == nil {
		err = ss.spamRcpt(env, to, res)
	}
	if err != nil {
		ss.logger().Info("recipient refused", "rcpt", to, "err", err)
		return ss.fail(ss.reply(err))
	}
	r := delivery.Recipient{Address: to, Resolution: res}
	for _, n := range opts.Notify {
		r.DSN.Notify = append(r.DSN.Notify, string(n))
	}
	if opts.OriginalRecipient != "" {
		r.DSN.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	}
	ss.mu.Lock()
	env.Rcpts = append(env.Rcpts, r)
	ss.mu.Unlock()
	return nil
}

// checkQuota refuses a recipient whose every local mailbox is known to be
// full (or too full for the announced SIZE): 452 4.2.2, temporary, since
// the user may make room (RFC 5321 §4.5.3.1.10).
func checkQuota(res delivery.Resolution, size int64) error {
	if len(res.Local) == 0 || len(res.Remote) > 0 {
		return nil
	}
	for _, l := range res.Local {
		if l.QuotaBytes == 0 || l.UsedBytes+size < l.QuotaBytes {
			return nil
		}
	}
	return delivery.ErrQuotaFull
}

// Data receives the message and delivers it before replying.
func (ss *session) Data(r io.Reader) error {
	done := make(chan struct{})
	defer close(done)
	ss.mu.Lock()
	env := ss.env
	ss.dataDone = done
	ss.mu.Unlock()
	if ss.tc != nil {
		ss.tc.inData.Add(1)
		defer ss.tc.inData.Add(-1)
		if ss.s.onData != nil {
			ss.s.onData()
		}
		// RFC 5321 §4.5.3.2.6: the whole data block gets its own timeout.
		ss.tc.SetReadDeadline(time.Now().Add(ss.s.dataTimeout()))
	}
	// A plain connection's DATA block is read by our own reader
	// (fastdata.go); BDAT chunks come through go-smtp's pipe.
	var fr *dataReader
	if _, bdat := r.(*io.PipeReader); !bdat && ss.tc != nil && ss.tls == nil {
		if fr = ss.tc.lc.fastData(pick64(ss.s.MaxMessageBytes, DefaultMaxMessageBytes), pick(ss.s.MaxLineLength, DefaultMaxLineLength)); fr != nil {
			defer fr.finish()
			r = fr
		}
	}
	br := &budgetReader{r: r, budget: &ss.s.inFlight, max: pick64(ss.s.MaxInFlightBytes, DefaultMaxInFlightBytes)}
	var w *headerWatch
	var lk *mailauth.Lookups
	var early *message.Header // parsed while the body was arriving
	if ss.checksAuth() {
		// DKIM keys and DMARC policies are asked for as soon as
		// their fields are in, while the rest is still arriving.
		lk = mailauth.StartLookups(ss.connCtx(), ss.s.dns)
		defer lk.Stop()
		w = &headerWatch{field: lk.Field, header: func(hdr []byte) {
			if h, err := message.ReadHeader(hdr, message.HeaderLimits{}); err == nil {
				early = h
			}
		}}
	}
	buf, err := readAll(br, w, traceRoom)
	defer br.release()
	defer putBuf(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ss.tc != nil {
			// The rest of the message may still arrive and would be
			// read as commands: this reply is the last one.
			ss.tc.closeAfter.Store(true)
		}
		return ss.fail(dataError(err))
	}
	data := buf.Bytes()[traceRoom:]
	if env == nil || len(env.Rcpts) == 0 {
		return ss.fail(&smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"})
	}
	// The CRLF form is what the store parses (RFC 5322 §2.1): a bare
	// CR or LF must not end a field here and not there.
	norm := data
	if fr == nil || !fr.crlf() { // else our reader saw it is CRLF already
		norm = message.NormalizeCRLF(data)
	}
	hdr := early
	if hdr == nil || len(norm) != len(data) || &norm[0] != &data[0] {
		// Not parsed yet, or CRLF normalisation changed the bytes.
		hdr, err = readHeader(norm)
	}
	data = norm
	if err != nil {
		ss.logger().Info("header refused", "err", err)
		return ss.fail(err)
	}
	// data stays in CRLF form up to delivery: completeHeader adds CRLF
	// lines, and the forged Authentication-Results and X-Youju-Spam
	// fields are cut out as whole lines. Neither delivery nor the store
	// scans it again (TestBareEOLStoredAsCRLF).
	env.CRLF = true
	ctx, cancel := ss.ctx()
	defer cancel()
	if ss.tc != nil && ss.tc.nc != nil {
		// The message is read: a client that hangs up now will not hear
		// the answer, and its checks and delivery are cancelled (it got
		// no 250, so nothing it relies on is lost; issue 13 point 5).
		defer ss.tc.nc.Busy().Done()
	}
	if acct := ss.account(); acct != nil { // submission, or AUTH on 25
		if err := ss.checkFrom(ctx, acct, hdr); err != nil {
			return ss.fail(err)
		}
		data = completeHeader(data, hdr, ss.s.Hostname, time.Now())
	}
	ss.fillTrace(env)
	var av *mailauth.Verdict
	if lk != nil {
		var v mailauth.Verdict
		data, v = ss.authenticate(ctx, env, lk, hdr, data)
		if v.Reject && env.RoleOnly() {
			// postmaster@/abuse@ take everything (RFC 5321 §4.5.1), into Junk.
			v.Reject, v.Junk = false, true
		}
		if ss.s.DMARCReport != nil {
			ss.s.DMARCReport(ss.remote.String(), v)
		}
		if v.Reject {
			return ss.fail(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: "Rejected by the DMARC policy of " + v.DMARC.FromDomain})
		}
		env.Junk = v.Junk
		env.Fields = v.Field
		env.Suspect = suspectSender(v.Result)
		av = &v
	}
	data = stripSpamField(data)
	if err := ss.spamData(ctx, env, av, data); err != nil {
		return ss.fail(err)
	}
	grant, err := ss.sendLimit(env)
	if err != nil {
		return ss.fail(err)
	}
	if acct := ss.account(); acct != nil {
		// The queue keeps who submitted it: queue hold --all-from and the
		// hold of a bursting account find it whatever its MAIL FROM.
		ctx = queue.WithAccount(ctx, acct.Address)
	}
	if err := ss.deliver(ctx, env, buf.Bytes(), data); err != nil {
		ss.logger().Warn("delivery failed", "id", env.ID, "err", err)
		ss.sendCancel(grant)
		return ss.reply(err)
	}
	// The maillog "received" line is the one line of an accepted
	// message (id, from, to, size): a second, free-form one cost a
	// formatted record and a write per message.
	ss.logReceived(env, len(data))
	ss.count(env)
	ss.spamDelivered(env, av)
	ss.spamSent(env, data, grant)
	return nil
}

// deliver delivers data; when the checks left it as read, the end of
// whole, the room read in front of it takes the trace fields.
func (ss *session) deliver(ctx context.Context, env *delivery.Envelope, whole, data []byte) error {
	if len(data) > 0 && len(whole) == traceRoom+len(data) && &whole[traceRoom] == &data[0] {
		return ss.s.Deliverer.DeliverRoom(ctx, env, whole, traceRoom)
	}
	return ss.s.Deliverer.Deliver(ctx, env, data)
}

// count adds an accepted message with local recipients to the
// well-known delivery counter.
func (ss *session) count(env *delivery.Envelope) {
	for _, r := range env.Rcpts {
		if len(r.Local) > 0 {
			path := metrics.PathInbound
			if ss.account() != nil {
				path = metrics.PathSubmission
			}
			metrics.MessagesDelivered.With(path).Inc()
			return
		}
	}
}

// fillTrace sets what Received: says about this connection.
func (ss *session) fillTrace(env *delivery.Envelope) {
	var rb [6]byte
	randRead(rb[:])
	env.ID = ss.id + "." + hex.EncodeToString(rb[:])
	if ss.c != nil { // nil for Submit (webmail): no SMTP connection
		env.Helo = ss.c.Hostname()
	}
	if ss.remote.IsValid() {
		env.RemoteIP = ss.remote.String()
	}
	env.Time = time.Now()
	// RFC 3848 §2: ESMTP, +S with TLS, +A with AUTH.
	env.Protocol = "ESMTP"
	if ss.c == nil {
		// The "with" value of the IANA Mail Transmission Types
		// registry for mail that came in over HTTP.
		env.Protocol, env.Helo = "HTTP", "webmail"
		return
	}
	if ss.tls != nil {
		env.Protocol += "S"
		env.TLS = tls.VersionName(ss.tls.Version) + " " + tls.CipherSuiteName(ss.tls.CipherSuite)
	}
	if ss.account() != nil {
		env.Protocol += "A"
	}
}

// checkFrom enforces that every From: address belongs to the account
// (RFC 6409 §8 allows the MSA such policy). It reads the header the store
// will keep, after refusing what could be read two ways.
func (ss *session) checkFrom(ctx context.Context, acct *store.Account, hdr *message.Header) error {
	if err := checkSubmittedSyntax(hdr); err != nil {
		ss.logger().Info("header refused", "err", err)
		return err
	}
	addrs, err := headerFrom(hdr)
	if err != nil {
		ss.logger().Info("From: header refused", "err", err)
		return err
	}
	for _, a := range addrs {
		ok, err := ss.s.Deliverer.Resolver.MaySendAs(ctx, *acct, a)
		if err != nil {
			return ss.reply(err)
		}
		if !ok {
			ss.logger().Info("From: header refused", "from", a)
			return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "From: address not owned by the authenticated user"}
		}
	}
	return nil
}

// reply turns a delivery or store error into an SMTP reply. Anything we
// do not recognise is a temporary local problem: never a 5xx for an
// error that may go away (RFC 5321 §4.2.5).
func (ss *session) reply(err error) error {
	var de *delivery.Error
	if errors.As(err, &de) {
		if de.Temporary() && de.Err != nil {
			ss.logger().Error("temporary failure", "err", de.Err)
		}
		return &smtp.SMTPError{Code: de.Code, EnhancedCode: smtp.EnhancedCode(de.Enhanced), Message: de.Msg}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	ss.logger().Error("temporary failure", "err", err)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
}

// errBusy: the server holds too much message data right now (RFC 3463
// 4.3.1, mail system full).
var errBusy = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system resources, try again later"}

// budgetReader counts what it reads against a server-wide budget, so
// that many large messages at once cannot exhaust memory.
type budgetReader struct {
	r      io.Reader
	budget *atomic.Int64
	max    int64 // 0 = unlimited
	n      int64 // taken from the budget
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.n += int64(n)
		if total := b.budget.Add(int64(n)); b.max > 0 && total > b.max {
			return n, errBusy
		}
	}
	return n, err
}

func (b *budgetReader) release() { b.budget.Add(-b.n) }

// dataError maps a failure while reading the message.
func dataError(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se // e.g. 552 5.3.4 from go-smtp's size limit
	case errors.Is(err, smtp.ErrTooLongLine):
		return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	case errors.Is(err, smtp.ErrDataReset):
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout while receiving the message"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error while receiving the message"}
}

// traceRoom is the room readAll leaves in front of a message, into which
// delivery writes the trace fields (Return-Path:, Received:,
// Authentication-Results:, X-Youju-Spam:) instead of copying the message
// behind them.
const traceRoom = 2 << 10

// readAll reads the message into a pooled buffer, after room bytes
// left free; go-smtp's reader enforces MaxMessageBytes. The delivery code
// copies what it keeps. If w is set, it is told of each header field and
// then of the header section as they arrive (only within
// message.DefaultMaxHeaderBytes).
func readAll(r io.Reader, w *headerWatch, room int) (*bytes.Buffer, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Grow(room + 16<<10)
	buf.Write(buf.AvailableBuffer()[:room]) // whatever it holds: written over later
	if w != nil {
		for buf.Len()-room < message.DefaultMaxHeaderBytes {
			// Read straight into the pooled buffer (a chunk array
			// would escape to the heap: 16 KiB per message).
			buf.Grow(16 << 10)
			free := buf.AvailableBuffer()
			n, err := r.Read(free[:cap(free)])
			buf.Write(free[:n]) // in place: no copy
			if end := w.scan(buf.Bytes()[room:]); end > 0 {
				w.header(buf.Bytes()[room : room+end])
				break
			}
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
		}
	}
	_, err := buf.ReadFrom(r)
	return buf, err
}

// headerWatch finds the fields of a header section as it arrives, in
// linear time however it is cut into reads: each byte is looked at once
// (the line end that closes a read, twice).
type headerWatch struct {
	field  func(raw []byte) // each field, continuation lines included
	header func(hdr []byte) // the section, blank line included

	pos  int // start of the field being read
	line int // start of the line being read
	next int // where to look for the next line end
}

// scan reports the fields completed in b, the message so far (b grows
// between calls; it is not changed). It returns the length of the header
// section once its blank line is in, else 0. Lines end at LF, as
// message.ReadHeader's do after CRLF normalisation.
func (w *headerWatch) scan(b []byte) int {
	for {
		i := bytes.IndexByte(b[w.next:], '\n')
		if i < 0 {
			w.next = len(b)
			return 0
		}
		nl := w.next + i
		if w.line == w.pos && (nl == w.line || (nl == w.line+1 && b[w.line] == '\r')) {
			return nl + 1 // the blank line (RFC 5322 §2.1)
		}
		if nl+1 == len(b) {
			w.next = nl // is the next line a continuation? Not known yet
			return 0
		}
		w.line, w.next = nl+1, nl+1
		if c := b[nl+1]; c == ' ' || c == '\t' {
			continue // RFC 5322 §2.2.3 folding
		}
		w.field(b[w.pos : nl+1])
		w.pos = nl + 1
	}
}

// putBuf returns small buffers to the pool; a 50 MiB one is left to the
// collector so that idle servers stay small.
func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// authenticate runs SPF, DKIM and DMARC for a message received on the MX
// port (RFC 8601 §5: forged results claiming our name go; ours is added).
// SPF has been running since MAIL FROM.
func (ss *session) authenticate(ctx context.Context, env *delivery.Envelope, lk *mailauth.Lookups, hdr *message.Header, data []byte) ([]byte, mailauth.Verdict) {
	ss.mu.Lock()
	spf := ss.spf
	ss.spf = nil
	ss.mu.Unlock()
	if spf == nil {
		spf = mailauth.StartSPF(ctx, ss.s.dns, net.IP(ss.remote.AsSlice()), ss.c.Hostname(), env.From)
	}
	out, v := mailauth.InboundVerify(ctx, ss.s.Hostname, ss.s.DMARCPolicy, spf, lk, hdr, data)
	if v.TrustARC(ss.s.ARCTrustedSealers) {
		ss.logger().Info("DMARC failure excused by a trusted ARC sealer", "from", v.DMARC.FromDomain, "sealer", v.ARC.Sealer)
	}
	return out, v
}

// checksAuth: messages on the MX port from anyone not logged in get SPF,
// DKIM and DMARC checked (when DNS is configured).
func (ss *session) checksAuth() bool {
	return ss.s.Mode == Inbound && ss.account() == nil && ss.s.dns != nil
}
