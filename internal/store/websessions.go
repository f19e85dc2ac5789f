package store

import (
	"context"
	"time"
)

// WebSession is a signed-in browser session of the web pages (settings,
// webmail, admin console). The cookie holds a random value; the store
// keeps only its SHA-256, so a copy of the database gives no usable
// cookie.
type WebSession struct {
	ID       [32]byte // SHA-256 of the cookie value
	Account  AccountID
	CSRF     string // token of this session's forms
	Pending  bool   // password checked, the second factor (TOTP) not yet
	Created  time.Time
	LastSeen time.Time
}

// WebSessions stores web sessions and the web sign-in's second factor, so
// that any node serving the same store serves a session. It is optional:
// the web package keeps sessions in memory for a backend without it.
type WebSessions interface {
	// CreateWebSession stores a new session.
	CreateWebSession(ctx context.Context, s WebSession) error
	// WebSession returns the session of id, or ErrNotFound.
	WebSession(ctx context.Context, id [32]byte) (WebSession, error)
	// TouchWebSession sets the last use of id.
	TouchWebSession(ctx context.Context, id [32]byte, t time.Time) error
	// DeleteWebSession ends one session (no error if it is gone).
	DeleteWebSession(ctx context.Context, id [32]byte) error
	// DeleteAccountWebSessions ends every session of acct except keep.
	DeleteAccountWebSessions(ctx context.Context, acct AccountID, keep [32]byte) error
	// ExpireWebSessions deletes the sessions last seen before idle or
	// created before created, and returns how many.
	ExpireWebSessions(ctx context.Context, idle, created time.Time) (int, error)

	// WebTOTP returns the account's TOTP secret (RFC 6238) and the last
	// time step a code was accepted for, or ErrNotFound without one.
	WebTOTP(ctx context.Context, acct AccountID) (secret string, lastStep int64, err error)
	// SetWebTOTP sets the account's TOTP secret; "" removes it.
	SetWebTOTP(ctx context.Context, acct AccountID, secret string) error
	// UseWebTOTPStep records that a code of time step step was accepted,
	// only if no code of that step or a later one was: false means a
	// replay (RFC 6238 §5.2: a verifier must not accept the same OTP
	// twice). Atomic across nodes.
	UseWebTOTPStep(ctx context.Context, acct AccountID, step int64) (bool, error)
}
