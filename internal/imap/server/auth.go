package server

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/store"
)

// handler is a command with the states it is valid in (RFC 9051 §6).
type handler struct {
	fn     func(c *conn, cmd *wire.Command) error
	states map[state]bool
}

var (
	anyState = map[state]bool{stateNotAuth: true, stateAuth: true, stateSelected: true}
	notAuth  = map[state]bool{stateNotAuth: true}
	authed   = map[state]bool{stateAuth: true, stateSelected: true}
	selState = map[state]bool{stateSelected: true}
)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CAPABILITY":   {cmdCapability, anyState},
		"NOOP":         {cmdNoop, anyState},
		"LOGOUT":       {cmdLogout, anyState},
		"ID":           {cmdID, anyState},
		"STARTTLS":     {cmdStartTLS, notAuth},
		"LOGIN":        {cmdLogin, notAuth},
		"AUTHENTICATE": {cmdAuthenticate, notAuth},
		"ENABLE":       {cmdEnable, authed},
		"NAMESPACE":    {cmdNamespace, authed},
		"LIST":         {cmdList, authed},
		"LSUB":         {cmdList, authed},
		"CREATE":       {cmdCreate, authed},
		"DELETE":       {cmdDelete, authed},
		"RENAME":       {cmdRename, authed},
		"SUBSCRIBE":    {cmdSubscribe, authed},
		"UNSUBSCRIBE":  {cmdSubscribe, authed},
		"STATUS":       {cmdStatus, authed},
		"APPEND":       {cmdAppend, authed},
		"SELECT":       {cmdSelect, authed},
		"EXAMINE":      {cmdSelect, authed},
		"IDLE":         {cmdIdle, authed},
		"GETQUOTAROOT": {cmdGetQuotaRoot, authed},
		"GETQUOTA":     {cmdGetQuota, authed},
		"COMPRESS":     {cmdCompress, authed},
		"CLOSE":        {cmdClose, selState},
		"UNSELECT":     {cmdClose, selState},
		"CHECK":        {cmdNoop, selState},
		"EXPUNGE":      {cmdExpunge, selState},
		"FETCH":        {cmdFetch, selState},
		"STORE":        {cmdStore, selState},
		"SEARCH":       {cmdSearch, selState},
		"SORT":         {cmdSort, selState},
		"THREAD":       {cmdThread, selState},
		"CANCELUPDATE": {cmdCancelUpdate, selState},
		"COPY":         {cmdCopy, selState},
		"MOVE":         {cmdCopy, selState},
	}
}

// plaintextOK reports whether passwords may be sent on this connection:
// over TLS, or from loopback when the server allows it.
func (c *conn) plaintextOK() bool {
	return c.tls || (c.srv.AllowPlaintextLoopback && c.remote.IsLoopback())
}

// capabilities lists what is implemented end to end and tested; nothing
// else is advertised.
func (c *conn) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2"}
	if c.state == stateNotAuth {
		if !c.tls && c.srv.TLSConfig != nil {
			caps = append(caps, "STARTTLS")
		}
		if c.plaintextOK() {
			caps = append(caps, c.saslCaps()...)
			caps = append(caps, "SASL-IR")
		} else {
			caps = append(caps, "LOGINDISABLED") // RFC 9051 §6.2.1
		}
	}
	caps = append(caps, "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS",
		"MOVE", "CHILDREN", "SPECIAL-USE", "CONDSTORE", "QRESYNC", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS", "UTF8=ACCEPT", "BINARY", "SAVEDATE", "MULTIAPPEND", "CREATE-SPECIAL-USE", "ESEARCH", "STATUS=SIZE",
		"SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT",
		"THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT",
		"CATENATE", // RFC 4469
		"QUOTA", "QUOTA=RES-STORAGE", "COMPRESS=DEFLATE", "APPENDLIMIT="+strconv.FormatInt(c.srv.maxLiteral(), 10))
	return strings.Join(caps, " ")
}

// saslCaps are the AUTH= capabilities: SCRAM-SHA-256 (RFC 7677), its -PLUS
// variant where the TLS channel can be bound (RFC 9266), and PLAIN. SCRAM
// is offered under the same rule as PLAIN (TLS, or loopback when allowed)
// although the password never crosses: RFC 5802 §9 warns that an
// eavesdropper of an unprotected exchange can still run an offline
// dictionary attack on it, and the mail that follows would be in clear.
func (c *conn) saslCaps() []string {
	var caps []string
	for _, m := range c.srv.Auth.Mechanisms(c.tlsState()) {
		if m != "LOGIN" { // never advertised in IMAP: it has LOGIN the command
			caps = append(caps, "AUTH="+m)
		}
	}
	return caps
}

// tlsState returns the connection's TLS state, nil without TLS.
func (c *conn) tlsState() *tls.ConnectionState {
	if tc, ok := c.nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

func cmdCapability(c *conn, _ *wire.Command) error {
	c.w.Raw("* CAPABILITY ").Raw(c.capabilities()).CRLF()
	return nil
}

// cmdNoop also serves CHECK (RFC 9051 §6.4.1: CHECK is NOOP in rev2);
// pending updates are sent by run after every command. On a store shared
// by several nodes it asks the store even without an event (poll.go).
func cmdNoop(c *conn, _ *wire.Command) error {
	if c.sel != nil && c.srv.pollEvery() > 0 {
		c.sendUpdates(true)
	}
	return nil
}

func cmdLogout(c *conn, _ *wire.Command) error {
	c.w.Raw("* BYE logging out").CRLF()
	c.state = stateLogout
	return nil
}

// cmdID answers RFC 2971 ID; some clients (NetEase, Foxmail) need it.
func cmdID(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.IDArgs)
	if len(a.Params) > 0 {
		c.logger().Debug("client ID", "params", a.Params)
	}
	c.w.Raw(`* ID ("name" "youju" "vendor" "youju")`).CRLF()
	return nil
}

// cmdStartTLS upgrades the connection (RFC 9051 §6.2.1). Bytes the client
// sent after the command would be injected into the TLS session, so they
// end the connection.
func cmdStartTLS(c *conn, cmd *wire.Command) error {
	if c.tls || c.srv.TLSConfig == nil {
		return bad("", "STARTTLS not available")
	}
	if len(c.pendingInput()) > 0 {
		c.state = stateLogout
		c.bye("data after STARTTLS")
		return nil
	}
	c.w.Raw(cmd.Tag).Raw(" OK begin TLS negotiation now").CRLF()
	if err := c.flush(); err != nil {
		c.state = stateLogout
		return nil
	}
	tc := tls.Server(c.nc, c.srv.TLSConfig)
	tc.SetDeadline(time.Now().Add(orDur(c.srv.HandshakeTimeout, DefaultHandshakeTimeout)))
	if err := tc.Handshake(); err != nil {
		c.logger().Debug("STARTTLS handshake failed", "err", err)
		c.state = stateLogout
		return errStartTLSDone
	}
	tc.SetDeadline(time.Time{})
	c.nc, c.tls = tc, true
	c.setupIO()
	return errStartTLSDone
}

// errStartTLSDone tells run that the tagged response was already sent.
var errStartTLSDone = errors.New("starttls done")

func cmdLogin(c *conn, cmd *wire.Command) error {
	if !c.plaintextOK() {
		return no("PRIVACYREQUIRED", "LOGIN needs TLS; use STARTTLS or port 993")
	}
	a := cmd.Args.(*wire.LoginArgs)
	acct, err := c.srv.Auth.Login(c.ctx, auth.Request{Username: a.Username, Password: a.Password, Service: store.ServiceIMAP, Remote: c.remote})
	if err != nil {
		maillog.AuthFailed("imap", c.remote, a.Username, "LOGIN", err)
		return loginError(err)
	}
	c.loggedIn(acct)
	return nil
}

func loginError(err error) error {
	var se *auth.SCRAMError
	switch {
	case errors.As(err, &se):
		// The RFC 5802 §7 error value; it never tells whether the user
		// exists (an unknown one fails with invalid-proof).
		return no("AUTHENTICATIONFAILED", "SCRAM authentication failed: "+se.Value)
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrThrottled):
		return no("AUTHENTICATIONFAILED", "invalid credentials")
	case errors.Is(err, auth.ErrServiceDisabled), errors.Is(err, auth.ErrAccountDisabled):
		return no("AUTHORIZATIONFAILED", "IMAP access is disabled for this account")
	case errors.Is(err, auth.ErrMalformedSASL):
		// RFC 9051 §6.2.2: BAD, arguments invalid, the exchange cancelled;
		// not a temporary failure the client would retry as is.
		return bad("", "malformed SASL message")
	}
	return &respError{kind: "NO", code: "UNAVAILABLE", text: "temporary failure, try again", detail: err}
}

func (c *conn) loggedIn(acct store.Account) {
	c.acct = acct
	c.state = stateAuth
	c.log = nil // made again with the user (logger)
	c.subscribe(acct.ID)
	c.okCode = "CAPABILITY " + c.capabilities()
}

// cmdAuthenticate runs a SASL exchange (RFC 9051 §6.2.2) with the
// optional initial response of SASL-IR (RFC 4959).
func cmdAuthenticate(c *conn, cmd *wire.Command) error {
	if !c.plaintextOK() {
		return no("PRIVACYREQUIRED", "authentication needs TLS")
	}
	a := cmd.Args.(*wire.AuthenticateArgs)
	var acct store.Account
	ok := false
	srv, err := c.srv.Auth.SASL(c.ctx, a.Mechanism, store.ServiceIMAP, c.remote, c.tlsState(), func(x store.Account) { acct, ok = x, true })
	if err != nil {
		return no("CANNOT", "unsupported mechanism")
	}
	var resp []byte
	if a.HasIR && a.InitialResponse != "=" {
		if resp, err = base64.StdEncoding.DecodeString(a.InitialResponse); err != nil {
			return bad("", "invalid base64")
		}
	} else if a.HasIR {
		resp = []byte{}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			c.logger().Debug("authentication failed", "mech", a.Mechanism, "err", err)
			maillog.AuthFailed("imap", c.remote, "", a.Mechanism, err)
			return loginError(err)
		}
		if done {
			break
		}
		c.w.Raw("+ ").Raw(base64.StdEncoding.EncodeToString(challenge)).CRLF()
		if err := c.flush(); err != nil {
			return err
		}
		line, err := c.r.ReadLine()
		if err != nil {
			return err
		}
		if line == "*" {
			return bad("", "authentication cancelled") // RFC 9051 §6.2.2
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			return bad("", "invalid base64")
		}
	}
	if !ok {
		return no("AUTHENTICATIONFAILED", "invalid credentials")
	}
	c.loggedIn(acct)
	c.logger().Debug("authenticated", "mech", a.Mechanism)
	return nil
}

// cmdEnable turns on extensions (RFC 5161). Only IMAP4rev2 changes our
// behaviour today; others we do not support are ignored as the RFC says.
func cmdEnable(c *conn, cmd *wire.Command) error {
	if c.enabled == nil {
		c.enabled = map[string]bool{}
	}
	var on []string
	for _, capa := range cmd.Args.(*wire.EnableArgs).Caps {
		switch capa {
		case "QRESYNC":
			if !c.qresync {
				c.qresync = true
				c.enableCondstore() // RFC 7162 §3.2.3
				on = append(on, "QRESYNC")
			}
		case "CONDSTORE":
			if !c.condstore {
				c.enableCondstore()
				on = append(on, "CONDSTORE")
			}
		case "UTF8=ACCEPT":
			// RFC 6855 §3: UTF-8 in quoted strings and mailbox names.
			if !c.enabled[capa] {
				c.enabled[capa] = true
				c.w.UTF8, c.r.UTF8 = true, true
				on = append(on, "UTF8=ACCEPT")
			}
		case "IMAP4REV2":
			if !c.rev2 {
				c.rev2 = true
				// RFC 9051 §5.1, §9: UTF-8 in quoted strings and
				// mailbox names instead of modified UTF-7.
				c.w.UTF8 = true
				c.r.UTF8 = true
				on = append(on, "IMAP4rev2")
			}
		}
	}
	c.w.Raw("* ENABLED")
	for _, x := range on {
		c.w.SP().Raw(x)
	}
	c.w.CRLF()
	return nil
}
