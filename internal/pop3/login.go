package pop3

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/store"
)

// errPlaintext refuses credentials on a connection that is not protected
// (RFC 2595 §4; the text is Dovecot's, which clients know).
var errPlaintext = &Error{Code: codeAuth, Text: "Plaintext authentication disallowed on non-secure (SSL/TLS) connections; use STLS first"}

// saslMechanisms are the SASL mechanisms of this connection (RFC 5034 §3:
// CAPA's SASL line): SCRAM-SHA-256, -PLUS where the TLS channel can be
// bound (RFC 9266), PLAIN and LOGIN. They are offered only where PLAIN
// would be (plaintextOK), SCRAM included: RFC 5802 §9 warns that an
// eavesdropped exchange still allows an offline dictionary attack, and the
// mail that follows would travel in clear.
func (s *session) saslMechanisms() []string { return s.srv.Auth.Mechanisms(s.tlsState()) }

// tlsState returns the connection's TLS state, nil without TLS.
func (s *session) tlsState() *tls.ConnectionState {
	if tc, ok := s.conn.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

// cmdUser takes the name for PASS (RFC 1939 §7).
func (s *session) cmdUser(cmd Command) error {
	if !s.plaintextOK() {
		return errPlaintext
	}
	if len(cmd.Args) != 1 {
		return &Error{Text: "USER takes one argument", bad: true}
	}
	s.user = cmd.Args[0]
	s.ok("Send your password")
	return nil
}

// cmdPass checks the password for the name of USER (RFC 1939 §7).
func (s *session) cmdPass(cmd Command) error {
	if !s.plaintextOK() {
		return errPlaintext
	}
	if s.user == "" {
		return &Error{Text: "USER first", bad: true}
	}
	user := s.user
	s.user = ""
	if cmd.Rest == "" {
		return &Error{Text: "PASS takes one argument", bad: true}
	}
	acct, err := s.srv.Auth.Login(s.ctx(), auth.Request{
		Username: user, Password: cmd.Rest, Service: store.ServicePOP3, Remote: s.remote,
	})
	if err != nil {
		s.log.Info("pop3: login failed", "user", user, "err", err)
		maillog.AuthFailed("pop3", s.remote, user, "USER", err)
		return s.loginFailed(authError(err))
	}
	return s.login(acct)
}

// maxSASLSteps bounds a SASL exchange (LOGIN needs three).
const maxSASLSteps = 8

// cmdAuth runs a SASL exchange (RFC 5034). Without arguments it lists the
// mechanisms, as older Outlook versions expect.
func (s *session) cmdAuth(cmd Command) error {
	if !s.plaintextOK() {
		return errPlaintext
	}
	if len(cmd.Args) == 0 {
		s.ok("Mechanisms follow")
		for _, m := range s.saslMechanisms() {
			s.w.WriteString(m + "\r\n")
		}
		s.w.WriteString(".\r\n")
		return nil
	}
	if len(cmd.Args) > 2 {
		return &Error{Text: "Too many arguments", bad: true}
	}
	var acct store.Account
	var got bool
	srv, err := s.srv.Auth.SASL(s.ctx(), cmd.Args[0], store.ServicePOP3, s.remote, s.tlsState(), func(a store.Account) { acct, got = a, true })
	if err != nil {
		return &Error{Text: "Unsupported authentication mechanism"}
	}
	var resp []byte
	if len(cmd.Args) == 2 {
		// RFC 5034 §4: "=" is an empty initial response.
		if resp, err = decodeSASL(cmd.Args[1]); err != nil {
			return err
		}
	}
	for step := 0; ; step++ {
		chal, done, err := srv.Next(resp)
		if err != nil {
			s.log.Info("pop3: SASL login failed", "mech", cmd.Args[0], "err", err)
			maillog.AuthFailed("pop3", s.remote, "", strings.ToUpper(cmd.Args[0]), err)
			e := authError(err)
			if se := (*auth.SCRAMError)(nil); errors.As(err, &se) {
				// The RFC 5802 §7 error value, which never tells
				// whether the user exists.
				e.Text = "SCRAM authentication failed: " + se.Value
			}
			return s.loginFailed(e)
		}
		if done {
			break
		}
		if step == maxSASLSteps {
			return &Error{Code: codeAuth, Text: "Authentication exchange too long", authFail: true}
		}
		// RFC 5034 §4: a continuation is "+" SP base64 CRLF.
		s.w.WriteString("+ " + base64.StdEncoding.EncodeToString(chal) + "\r\n")
		if err := s.w.Flush(); err != nil {
			return err
		}
		line, err := s.readLine(maxAuthLine)
		if errors.Is(err, errLineTooLong) {
			return &Error{Code: codeAuth, Text: "Authentication response too long", authFail: true}
		}
		if err != nil {
			return err
		}
		if string(line) == "*" {
			return &Error{Text: "Authentication cancelled"}
		}
		if resp, err = decodeSASL(string(line)); err != nil {
			return err
		}
	}
	if !got {
		return &Error{Code: codeAuth, Text: "Authentication failed", authFail: true}
	}
	return s.login(acct)
}

func (s *session) loginFailed(e *Error) *Error {
	mLogins.With(loginResult(e)).Inc()
	return e
}

func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &Error{Text: "Invalid base64 data", authFail: true}
	}
	return b, nil
}

// login locks the maildrop, takes its snapshot and enters the TRANSACTION
// state (RFC 1939 §7: the lock is taken after the password is checked).
func (s *session) login(acct store.Account) error {
	if !s.srv.lock(acct.ID) {
		s.log.Info("pop3: maildrop in use", "user", acct.Address)
		mLogins.With("in_use").Inc()
		return &Error{Code: codeInUse, Text: "Maildrop is locked by another POP3 session; try again later"}
	}
	// Recorded at once so that the session's recovery unlocks even if
	// loading panics.
	s.acct, s.locked = acct, true
	l, taken, err := s.acquireLease(acct.ID)
	if err != nil || taken {
		s.release()
		if taken {
			s.log.Info("pop3: maildrop in use on another node", "user", acct.Address)
			mLogins.With("in_use").Inc()
			return &Error{Code: codeInUse, Text: "Maildrop is locked by another POP3 session; try again later"}
		}
		mLogins.With("error").Inc()
		return tempError(err)
	}
	s.lease = l
	drop, err := loadMaildrop(s.ctx(), s.srv.Store, acct)
	if err != nil {
		s.release()
		mLogins.With("error").Inc()
		return tempError(err)
	}
	s.drop = drop
	s.state = stateTransaction
	s.log = s.log.With("user", acct.Address)
	mLogins.With("ok").Inc()
	s.log.Info("pop3: logged in", "messages", drop.count, "tls", s.tls)
	s.ok("Logged in, " + strconv.Itoa(drop.count) + " messages (" + strconv.FormatInt(drop.size, 10) + " octets)")
	return nil
}

// ctx is the connection's context, which ends when the connection closes or
// the server shuts down: a login's tarpit (internal/auth) ends with it.
func (s *session) ctx() context.Context {
	return s.raw.Context()
}
