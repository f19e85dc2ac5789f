// Package delivery decides where a message goes and puts it there: it
// resolves recipients (local accounts, aliases, catch-all, plus-addressing),
// delivers to local mailboxes through the store (one write per message,
// however many recipients), and hands mail for other domains to the
// outbound Queue. It knows nothing of the SMTP wire; smtpd maps its typed
// errors onto replies.
package delivery

import (
	"errors"
	"fmt"
)

// Error is a delivery failure with the SMTP reply it deserves (RFC 5321
// §4.2 code and RFC 3463 enhanced code). Msg is safe to show the client;
// Err, if set, is detail for the log only.
type Error struct {
	Code     int
	Enhanced [3]int
	Msg      string
	Err      error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the detail error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the sender should retry (4xx).
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// Is makes errors.Is(err, ErrUnknownUser) true for copies carrying detail.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Enhanced == e.Enhanced && t.Msg == e.Msg
}

// with returns a copy of e carrying detail for the log.
func (e *Error) with(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Typed failures. The codes follow RFC 5321 §4.2.2 and RFC 3463 §3.
var (
	// ErrUnknownUser: a local domain without such a mailbox (5.1.1).
	ErrUnknownUser = &Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Msg: "No such user here"}
	// ErrMailboxDisabled: the account is disabled by the administrator
	// (RFC 3463 5.2.1 "mailbox disabled, not accepting messages").
	ErrMailboxDisabled = &Error{Code: 550, Enhanced: [3]int{5, 2, 1}, Msg: "Mailbox disabled, not accepting messages"}
	// ErrRelayDenied: a non-local recipient without authentication (5.7.1).
	ErrRelayDenied = &Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Msg: "Relaying denied"}
	// ErrBadAddress: the address does not parse (5.1.3).
	ErrBadAddress = &Error{Code: 501, Enhanced: [3]int{5, 1, 3}, Msg: "Bad recipient address syntax"}
	// ErrAliasLoop: alias expansion looped or went too deep (5.4.6).
	ErrAliasLoop = &Error{Code: 554, Enhanced: [3]int{5, 4, 6}, Msg: "Alias expansion loop"}
	// ErrTooManyTargets: an alias expands to more addresses than allowed (5.5.3).
	ErrTooManyTargets = &Error{Code: 550, Enhanced: [3]int{5, 5, 3}, Msg: "Alias expands to too many recipients"}
	// ErrQuotaFull: known at RCPT time, so temporary (RFC 5321 §4.5.3.1.10, 4.2.2).
	ErrQuotaFull = &Error{Code: 452, Enhanced: [3]int{4, 2, 2}, Msg: "Mailbox full"}
	// ErrQuotaExceeded: this message does not fit (RFC 3463 5.2.2).
	ErrQuotaExceeded = &Error{Code: 552, Enhanced: [3]int{5, 2, 2}, Msg: "Mailbox full"}
	// ErrTemporary: a store or queue failure; the sender retries (4.3.0).
	ErrTemporary = &Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Msg: "Temporary local problem, try again later"}
	// ErrPartialNoBounce: some targets failed and the failure cannot be
	// reported by a bounce (null sender), so the whole message is refused
	// for now (4.2.2 when the cause is quota).
	ErrPartialNoBounce = &Error{Code: 452, Enhanced: [3]int{4, 2, 2}, Msg: "Some recipients cannot take this message now, try again later"}
)

// temporary wraps a store or I/O error as ErrTemporary.
func temporary(err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return ErrTemporary.with(err)
}
