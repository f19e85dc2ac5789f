package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/youju/youju/internal/store"
)

// Mechanisms returns the SASL mechanisms offered on a connection, in the
// order servers should advertise them. cs is the connection's TLS state
// (nil without TLS): SCRAM-SHA-256-PLUS is offered only where it can bind
// to the TLS channel (ChannelBinding). SCRAM comes first: with it the
// password never reaches the server. SCRAM is left out while some
// password of the store has no SCRAM keys yet (see scramOffer).
func (a *Authenticator) Mechanisms(cs *tls.ConnectionState) []string {
	var m []string
	if a.offerSCRAM() {
		if ChannelBinding(cs) != nil {
			m = append(m, SCRAMSHA256Plus)
		}
		m = append(m, SCRAMSHA256)
	}
	return append(m, sasl.Plain, sasl.Login)
}

// ErrUnsupportedMechanism is returned by SASL for an unknown mechanism.
var ErrUnsupportedMechanism = errors.New("auth: unsupported SASL mechanism")

// ErrMalformedSASL is wrapped around every error of a SASL exchange that
// comes from the client breaking the mechanism's syntax or steps (a PLAIN
// message go-sasl cannot split, a response after the last step) rather
// than from the login itself. Front-ends answer it as a failed
// authentication (RFC 4954 §6 535, RFC 5034 §4 -ERR [AUTH]) and test for
// it with errors.Is; go-sasl's own error stays wrapped beside it.
var ErrMalformedSASL = errors.New("auth: malformed SASL exchange")

// errUnexpectedResponse is a response after the exchange is over.
var errUnexpectedResponse = fmt.Errorf("%w: %w", ErrMalformedSASL, sasl.ErrUnexpectedClientResponse)

// plainServer is go-sasl's PLAIN server with its syntax errors (plain
// strings, "sasl: invalid response") wrapped in ErrMalformedSASL. The
// login's own errors pass unchanged.
type plainServer struct {
	sasl.Server
	loginErr error // the last error of the login function
}

func newPlainServer(login func(identity, username, password string) error) *plainServer {
	p := &plainServer{}
	p.Server = sasl.NewPlainServer(func(identity, username, password string) error {
		p.loginErr = login(identity, username, password)
		return p.loginErr
	})
	return p
}

func (p *plainServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := p.Server.Next(response)
	if err != nil && err != p.loginErr {
		err = fmt.Errorf("%w: %w", ErrMalformedSASL, err)
	}
	return challenge, done, err
}

// SASL returns a server for the mechanism (case-insensitive): "PLAIN" (RFC
// 4616), "LOGIN", "SCRAM-SHA-256" (RFC 7677) or, when cs can bind,
// "SCRAM-SHA-256-PLUS". It logs in through the same checks and throttling as
// Login and calls onSuccess with the account. ctx is the connection's (the
// tarpit's waits end with it), cs its TLS state, nil without TLS.
func (a *Authenticator) SASL(ctx context.Context, mech string, svc store.Service, remote netip.Addr, cs *tls.ConnectionState, onSuccess func(store.Account)) (sasl.Server, error) {
	login := func(identity, username, password string) error {
		// RFC 4616 §2: an authorization identity other than the
		// authentication identity would be a proxy login, which we do not
		// allow.
		if identity != "" && a.CanonicalAddress(identity) != a.CanonicalAddress(username) {
			return withUser(a.CanonicalAddress(username), ErrInvalidCredentials)
		}
		acct, err := a.Login(ctx, Request{Username: username, Password: password, Service: svc, Remote: remote})
		if err != nil {
			return withUser(a.CanonicalAddress(username), err)
		}
		if onSuccess != nil {
			onSuccess(acct)
		}
		return nil
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return newPlainServer(login), nil
	case sasl.Login:
		return &loginServer{login: login}, nil
	case SCRAMSHA256:
		return &scramServer{a: a, ctx: ctx, svc: svc, remote: remote, cb: ChannelBinding(cs), onSuccess: onSuccess}, nil
	case SCRAMSHA256Plus:
		if cb := ChannelBinding(cs); cb != nil {
			return &scramServer{a: a, ctx: ctx, svc: svc, remote: remote, plus: true, cb: cb, onSuccess: onSuccess}, nil
		}
	}
	return nil, ErrUnsupportedMechanism
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login): the
// server asks "Username:" then "Password:". go-sasl has only its client.
type loginServer struct {
	login    func(identity, username, password string) error
	step     int
	username string
}

// maxLoginField bounds each LOGIN response.
const maxLoginField = 1024

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if len(response) > maxLoginField {
		return nil, true, ErrInvalidCredentials
	}
	switch s.step {
	case 0:
		s.step = 1
		if response == nil { // no initial response
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.login("", s.username, string(response))
	}
	return nil, true, errUnexpectedResponse
}
