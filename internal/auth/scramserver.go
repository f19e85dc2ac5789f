package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"

	"github.com/youju/youju/internal/store"
)

// scramKey is one password's keys with the app password it belongs to (0
// for the account password).
type scramKey struct {
	keys  scramKeys
	appID int64
}

// scramServer is the server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS
// (RFC 5802 §5, RFC 7677) as a go-sasl server. The exchange is
//
//	C: client-first   S: server-first   C: client-final   S: server-final (v=)   C: (empty)
//
// The server-final-message goes as a last challenge, answered by an empty
// response, because SMTP (RFC 4954 §4), IMAP and POP3 (RFC 5034 §4) have
// no room for data in their success reply.
type scramServer struct {
	a         *Authenticator
	ctx       context.Context // the connection's: lookups and the tarpit end with it
	svc       store.Service
	remote    netip.Addr
	plus      bool   // the mechanism is -PLUS
	cb        []byte // the connection's tls-exporter data; nil if -PLUS is not offered on it
	onSuccess func(store.Account)
	// nonce makes the combined nonce; nil is serverNonce (tests fix it to
	// replay the RFC 7677 example).
	nonceFn func(clientNonce string) (string, error)

	step        int
	first       clientFirst
	serverFirst string
	nonce       string // client nonce + ours
	addr        string // canonical address
	acct        store.Account
	keys        []scramKey // nil for an unknown user or one without keys
	known       bool       // the account signed in from this network lately (throttle.go)
}

const (
	scramStart     = iota
	scramWantFirst // after an empty challenge
	scramWantFinal
	scramWantEmpty
	scramDone
)

// Next implements sasl.Server. A failure once the client has named
// itself carries that name (LoginError) for the mail log.
func (s *scramServer) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := s.next(resp)
	return ch, done, withUser(s.addr, err)
}

func (s *scramServer) next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case scramStart:
		if resp == nil {
			// No initial response: an empty challenge asks for the
			// client-first-message (RFC 4422 §3.3).
			s.step = scramWantFirst
			return []byte{}, false, nil
		}
		return s.clientFirst(resp)
	case scramWantFirst:
		return s.clientFirst(resp)
	case scramWantFinal:
		return s.clientFinal(resp)
	case scramWantEmpty:
		s.step = scramDone
		if len(resp) != 0 {
			return nil, true, scramErr(eOtherError)
		}
		if s.onSuccess != nil {
			s.onSuccess(s.acct)
		}
		return nil, true, nil
	}
	return nil, true, errUnexpectedResponse
}

// clientFirst reads the client-first-message, looks the user up and
// answers with the server-first-message.
func (s *scramServer) clientFirst(resp []byte) ([]byte, bool, error) {
	s.step = scramDone // until proven otherwise
	m, err := parseClientFirst(string(resp))
	if err == nil {
		err = checkChannelBinding(m, s.plus, s.cb)
	}
	if err != nil {
		return nil, true, err
	}
	// RFC 5802 §5.1: the server prepares the user name with SASLprep as a
	// query string.
	user, err := saslPrep(m.username, false)
	if err != nil || user == "" {
		return nil, true, scramErr(eInvalidUsernameEncoding)
	}
	s.first, s.addr = m, s.a.CanonicalAddress(user)
	if m.authzid != "" {
		// As for PLAIN (RFC 4616 §2), acting as someone else is not allowed.
		az, err := saslPrep(m.authzid, false)
		if err != nil || s.a.CanonicalAddress(az) != s.addr {
			return nil, true, scramErr(eOtherError)
		}
	}
	salt, iter, err := s.lookup()
	if err != nil {
		return nil, true, err
	}
	// Refuse a throttled attempt before the server-first-message; the
	// attempt is reserved at the client-final-message (clientFinal), as a
	// client may never send it.
	s.known = s.acct.ID != 0 && s.a.known(s.ctx, s.acct.ID, s.remote)
	if s.a.lim.peek(s.remote, s.addr, s.known) {
		countLogin(s.svc, ErrThrottled)
		return nil, true, ErrThrottled
	}
	mkNonce := serverNonce
	if s.nonceFn != nil {
		mkNonce = s.nonceFn
	}
	if s.nonce, err = mkNonce(m.nonce); err != nil {
		return nil, true, fmt.Errorf("auth: nonce: %w", err)
	}
	s.serverFirst = serverFirstMessage(s.nonce, salt, iter)
	s.step = scramWantFinal
	return []byte(s.serverFirst), false, nil
}

// lookup loads the account's SCRAM keys and returns the salt and iteration
// count to send. Every password of an account shares one salt (see
// accountSalt), so one proof can be checked against the main password's
// keys and each app password's, at most maxSCRAMKeys of them; keys with
// another salt (an app password added while the main password was changed)
// cannot match this exchange and are skipped. A user without keys gets a
// made-up salt and fails at the proof like a wrong password (RFC 5802 §9).
func (s *scramServer) lookup() ([]byte, int, error) {
	ctx := s.ctx
	acct, err := s.a.accts.Account(ctx, s.addr)
	if errors.Is(err, store.ErrNotFound) {
		return fakeSalt(s.addr), scramIterations, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("auth: looking up account: %w", err)
	}
	s.acct = acct
	var all []scramKey
	if k, err := parseSCRAMKeys(acct.SCRAM); err == nil {
		all = append(all, scramKey{keys: k})
	}
	apps, err := s.a.accts.AppPasswords(ctx, acct.ID)
	if err != nil {
		return nil, 0, fmt.Errorf("auth: looking up app passwords: %w", err)
	}
	for _, p := range apps {
		if len(all) == maxSCRAMKeys {
			break
		}
		if k, err := parseSCRAMKeys(p.SCRAM); err == nil {
			all = append(all, scramKey{keys: k, appID: p.ID})
		}
	}
	if len(all) == 0 {
		return fakeSalt(s.addr), scramIterations, nil
	}
	ref := all[0].keys
	for _, k := range all {
		if k.keys.iter == ref.iter && bytes.Equal(k.keys.salt, ref.salt) {
			s.keys = append(s.keys, k)
		}
	}
	return ref.salt, ref.iter, nil
}

// clientFinal checks the channel binding and the proof and answers with
// the server-final-message.
func (s *scramServer) clientFinal(resp []byte) ([]byte, bool, error) {
	s.step = scramDone
	// No fingerprint of the password (the identical-password rule of
	// throttle.go): the server never sees it, and the proof differs with
	// every nonce (RFC 5802 §3), so a repeated wrong password cannot be
	// told from a new one and every SCRAM failure counts.
	t, err := s.a.lim.reserve(s.remote, s.addr, s.known, 0, false)
	if err != nil {
		countLogin(s.svc, err)
		return nil, true, err
	}
	if err := s.a.wait(s.ctx, t.wait); err != nil {
		t.cancel()
		err = gaveUp(err)
		countLogin(s.svc, err)
		return nil, true, err
	}
	m, err := parseClientFinal(string(resp))
	if err != nil {
		return nil, true, s.fail(t, err)
	}
	if m.nonce != s.nonce {
		return nil, true, s.fail(t, scramErr(eOtherError))
	}
	// RFC 5802 §7: c= is the base64 of the gs2-header, followed by the
	// channel binding data when the client bound ("p=").
	want := []byte(s.first.gs2Header)
	if s.first.cbFlag == 'p' {
		want = append(want, s.cb...)
	}
	if subtle.ConstantTimeCompare(m.cbind, want) != 1 {
		return nil, true, s.fail(t, scramErr(eChannelBindingsDontMatch))
	}
	authMessage := s.first.bare + "," + s.serverFirst + "," + m.withoutProof
	var match *scramKey
	if len(s.keys) == 0 {
		// An unknown user costs the same HMAC as a real one (RFC 5802 §9).
		verifyProof(scramKeys{storedKey: make([]byte, scramKeyLen)}, authMessage, m.proof)
	}
	for i := range s.keys {
		// Every key is tried, so the time does not tell which matched.
		if verifyProof(s.keys[i].keys, authMessage, m.proof) && match == nil {
			match = &s.keys[i]
		}
	}
	if match == nil {
		return nil, true, s.fail(t, scramErr(eInvalidProof))
	}
	t.finish(true)
	err = s.a.verified(s.ctx, s.acct, match.appID, s.svc, s.remote)
	countLogin(s.svc, err)
	if err != nil {
		return nil, true, err
	}
	s.step = scramWantEmpty
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature(match.keys, authMessage))), false, nil
}

// fail counts a failed login as Login does for a wrong password
// (throttle.go) and delays the answer by the tarpit.
func (s *scramServer) fail(t *ticket, err error) error {
	_ = s.a.wait(s.ctx, t.finish(false))
	countLogin(s.svc, err)
	return err
}
