package queue

import (
	"cmp"

	"github.com/youju/youju/internal/maillog"
)

// logMsg names recipient r of st for maillog: the id the message was
// received under (if it came through smtpd), the queue id, the sender.
func logMsg(st *State, r *Rcpt) maillog.Msg {
	return maillog.Msg{ID: st.Origin, QID: st.ID, From: st.From, To: []string{r.Addr}, Proto: "smtp", Size: st.Size}
}

func logResult(r *Rcpt) maillog.Result {
	return maillog.Result{Code: r.Code, Ext: r.Enhanced, Text: r.Diag}
}

// dsnID is the maillog id of a DSN about st: the id the message was
// received under (else its queue id) with ".dsn", so that a grep for the
// message also finds what became of its bounce.
func dsnID(st *State) string {
	return cmp.Or(st.Origin, st.ID) + ".dsn"
}

// logAttempt writes the maillog event of recipient r after an attempt
// (applyResult): delivered or bounced. A temporary failure is logged by
// finish, which knows when the next attempt is.
func logAttempt(st *State, r *Rcpt) {
	switch r.Status {
	case StatusSent:
		maillog.Delivered(logMsg(st, r), r.RemoteMTA, logResult(r))
	case StatusFailed:
		maillog.Bounced(logMsg(st, r), r.RemoteMTA, logResult(r))
	}
}

// logExpired writes the "bounced" event of a recipient the queue gave up on.
func logExpired(st *State, r *Rcpt) {
	maillog.Bounced(logMsg(st, r), r.RemoteMTA, logResult(r))
}

// logDeferred writes the "deferred" event of each recipient still pending.
func logDeferred(st *State, pending []*Rcpt) {
	for _, r := range pending {
		maillog.Deferred(logMsg(st, r), r.RemoteMTA, logResult(r), st.Attempts, st.NextAttempt)
	}
}
