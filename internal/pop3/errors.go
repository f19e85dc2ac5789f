package pop3

import (
	"errors"

	"github.com/youju/youju/internal/auth"
)

// Response codes: RFC 2449 §8 (IN-USE, LOGIN-DELAY) and RFC 3206 (SYS/TEMP,
// SYS/PERM, AUTH).
const (
	codeInUse   = "IN-USE"
	codeSysTemp = "SYS/TEMP"
	codeSysPerm = "SYS/PERM"
	codeAuth    = "AUTH"
)

// Error is a protocol error: the client gets "-ERR [Code] Text", the log
// gets Detail. Text is always safe to show.
type Error struct {
	Code   string // RFC 2449 response code, or ""
	Text   string
	Detail error // for the log only; nil when there is nothing to log

	bad      bool // counts toward MaxBadCommands
	authFail bool // counts toward MaxAuthFailures
	fatal    bool // close the connection after the reply
}

func (e *Error) Error() string {
	if e.Code != "" {
		return "pop3: [" + e.Code + "] " + e.Text
	}
	return "pop3: " + e.Text
}

// Unwrap returns the detail.
func (e *Error) Unwrap() error { return e.Detail }

// DisabledHint is the end of the reply to an account whose POP3 access is
// switched off: where the user switches it on.
const DisabledHint = "enable it in your account settings (web settings page) or ask your administrator"

// authError maps a login failure to its reply. The text never says whether
// the account exists (the auth package ensures the refusals that would are
// only given after a correct password).
func authError(err error) *Error {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		return &Error{Code: codeAuth, Text: "Authentication failed", authFail: true}
	case errors.Is(err, auth.ErrThrottled):
		return &Error{Code: codeSysTemp, Text: "Too many failed logins, try again later", fatal: true}
	case errors.Is(err, auth.ErrServiceDisabled):
		return &Error{Code: codeSysPerm, Text: "POP3 access is disabled for this account; " + DisabledHint}
	case errors.Is(err, auth.ErrAccountDisabled):
		return &Error{Code: codeSysPerm, Text: "This account is disabled"}
	case errors.Is(err, auth.ErrMalformedSASL):
		return &Error{Code: codeAuth, Text: "Authentication failed", authFail: true}
	}
	return &Error{Code: codeSysTemp, Text: "Temporary server failure, try again later", Detail: err}
}

// tempError is the reply to a store failure: transient by nature.
func tempError(err error) *Error {
	return &Error{Code: codeSysTemp, Text: "Temporary server failure, try again later", Detail: err}
}
