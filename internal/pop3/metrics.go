package pop3

import "github.com/youju/youju/internal/metrics"

// Metrics of all POP3 servers of the process (Prometheus text format at
// /metrics, see internal/metrics).
var (
	mSessions = metrics.NewGauge("youju_pop3_sessions", "POP3 connections open now.")
	mLogins   = metrics.NewCounter("youju_pop3_logins_total",
		"POP3 login attempts by result (ok, auth, disabled, throttled, in_use, error).", "result")
	mRetrBytes = metrics.NewCounter("youju_pop3_retr_bytes_total", "Message octets sent by RETR and TOP.")
	mDeleted   = metrics.NewCounter("youju_pop3_deleted_total", "Messages deleted (expunged, moved to Trash or hidden) in the UPDATE state.")
)

// loginResult names an auth error for mLogins.
func loginResult(e *Error) string {
	switch e.Code {
	case codeAuth:
		return "auth"
	case codeInUse:
		return "in_use"
	case codeSysPerm:
		return "disabled"
	case codeSysTemp:
		if e.Detail == nil {
			return "throttled"
		}
	}
	return "error"
}
