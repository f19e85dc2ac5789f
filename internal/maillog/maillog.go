// Package maillog writes one log line per mail event — a message received,
// queued, delivered, deferred or bounced, a command refused, a failed
// login — with the same keys in the same order on every line, so that an
// operator can follow one message with grep (docs/logs.md).
//
// Lines go through log/slog, by default to slog.Default(); the server
// points them at its own logger (or a separate file) with SetLogger. Every
// line has msg "mail" and the keys of Keys, empty when they do not apply;
// some events add keys after them (see each function).
package maillog

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/auth"
)

// Event names, the value of the "event" key.
const (
	EventReceived   = "received"    // we took responsibility: the 250 after DATA/BDAT
	EventQueued     = "queued"      // stored in the outbound queue for another domain
	EventDelivered  = "delivered"   // in a local mailbox, or accepted by the next server
	EventDeferred   = "deferred"    // a temporary failure; the queue retries
	EventBounced    = "bounced"     // a permanent failure (or the queue gave up)
	EventRejected   = "rejected"    // MAIL, RCPT or DATA refused with a 4xx/5xx reply
	EventAuthFailed = "auth_failed" // a login refused
)

// Keys are the keys of every line, in order: event, then the message
// (id, qid, from, to), the client (remote, proto, user), the result (code,
// text) and size. docs/logs.md defines each.
var Keys = keys[:]

var keys = [...]string{"event", "id", "qid", "from", "to", "remote", "proto", "user", "code", "text", "size"}

// Msg describes the message (or the login) an event is about. Empty
// fields are written as "".
type Msg struct {
	ID     string   // our id, given at receipt (the "id" of our Received: field)
	QID    string   // the outbound queue's id, for mail to other domains
	From   string   // envelope sender; the null reverse-path is written "<>"
	To     []string // envelope recipients (one per line for per-recipient events)
	Remote string   // the client's IP address
	Proto  string   // smtp, submission, imap, pop3, http, local
	User   string   // the authenticated account (or the name tried, for auth_failed)
	Size   int64    // message bytes; 0 when unknown
}

// Result is the outcome of an event: the SMTP reply given or received, or
// a short reason.
type Result struct {
	Code int    // SMTP reply code; 0 when there is none
	Ext  string // enhanced status code (RFC 3463), e.g. "5.1.1"
	Text string // reply text or reason; one line
}

var logger atomic.Pointer[slog.Logger]

// SetLogger sends the events to l (nil: back to slog.Default()).
func SetLogger(l *slog.Logger) { logger.Store(l) }

func current() *slog.Logger {
	if l := logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

type idKey struct{}

// WithID returns ctx carrying the message id, so that code further down
// (the outbound queue) can name the message it came from.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// IDFrom returns the message id of ctx, "" if none.
func IDFrom(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// Received logs a message accepted from a client (one line, every
// recipient in "to"). Extra key: "with", the RFC 3848 protocol of our
// Received: field (ESMTP, ESMTPS, ESMTPSA, ...).
func Received(m Msg, with string) {
	write(EventReceived, m, Result{Code: 250}, slog.String("with", with))
}

// Queued logs a message stored in the outbound queue under qid. The id it
// was received under comes from ctx (WithID).
func Queued(ctx context.Context, qid, from string, to []string, size int64) {
	write(EventQueued, Msg{ID: IDFrom(ctx), QID: qid, From: from, To: to, Size: size}, Result{})
}

// Delivered logs one recipient's successful delivery: into a local
// mailbox (proto "local"), or to the next server (proto "smtp"), whose
// name and answer are in relay and r.
func Delivered(m Msg, relay string, r Result) {
	write(EventDelivered, m, r, slog.String("relay", relay))
}

// Deferred logs one recipient's temporary failure and when the queue
// tries again. Extra keys: relay, attempts, next (RFC 3339).
func Deferred(m Msg, relay string, r Result, attempts int, next time.Time) {
	write(EventDeferred, m, r, slog.String("relay", relay), slog.Int("attempts", attempts),
		slog.String("next", next.UTC().Format(time.RFC3339)))
}

// Bounced logs one recipient's permanent failure (or expiry); the sender
// is sent a DSN unless the sender is null or NOTIFY says otherwise.
func Bounced(m Msg, relay string, r Result) {
	write(EventBounced, m, r, slog.String("relay", relay))
}

// Rejected logs a refused MAIL, RCPT or DATA (cmd). "to" holds the
// refused recipient for RCPT, the accepted ones for DATA.
func Rejected(m Msg, cmd string, r Result) {
	write(EventRejected, m, r, slog.String("cmd", cmd))
}

// AuthFailed logs a refused login: proto, client address, the name tried
// ("" to take it from err, an auth.LoginError, when a SASL exchange
// carried it), the mechanism, and the reason from err (see Reason).
// Extra key: mech.
func AuthFailed(proto string, remote netip.Addr, user, mech string, err error) {
	if user == "" {
		user = auth.FailedUser(err)
	}
	m := Msg{Proto: proto, User: user}
	if remote.IsValid() {
		m.Remote = remote.String()
	}
	write(EventAuthFailed, m, Result{Text: Reason(err)}, slog.String("mech", mech))
}

// Reason names why a login failed, for the "text" key of auth_failed.
func Reason(err error) string {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		return "invalid credentials"
	case errors.Is(err, auth.ErrThrottled):
		return "throttled"
	case errors.Is(err, auth.ErrAccountDisabled):
		return "account disabled"
	case errors.Is(err, auth.ErrServiceDisabled):
		return "service disabled"
	case err == nil:
		return ""
	}
	return oneLine(err.Error())
}

// maxText bounds the reply text kept on a line (a remote server's
// answer can be long and is not ours).
const maxText = 300

// write formats one line. A LineHandler takes it as a Line; another
// handler gets the record directly: Logger.LogAttrs would also capture
// the caller's program counter, which no handler of the server uses (no
// AddSource) and which cost a stack walk per line.
func write(event string, m Msg, r Result, extra ...slog.Attr) {
	ctx := context.Background()
	h := current().Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return // nothing joined, nothing built
	}
	from := m.From
	if event != EventAuthFailed {
		from = sender(from)
	}
	l := Line{Time: time.Now(), Event: event, ID: m.ID, QID: m.QID, From: from, To: strings.Join(m.To, ","),
		Remote: m.Remote, Proto: m.Proto, User: m.User, Code: code(r), Text: oneLine(r.Text), Size: m.Size}
	l.nExtra = copy(l.extra[:], extra)
	if lh, ok := h.(LineHandler); ok {
		_ = lh.HandleLine(ctx, l) // as Logger does: a failed log write is not the mail's failure
		return
	}
	_ = h.Handle(ctx, l.Record())
}

// Info writes an Info line to l as write does a mail event: the record
// goes to l's handler without Logger's stack walk (no handler of the
// server prints the source), and the attributes stay on the caller's
// stack. The line is the one l.LogAttrs would write. For other lines
// written once per message on the MX path (smtpd's "spam verdict").
func Info(l *slog.Logger, msg string, attrs ...slog.Attr) {
	ctx := context.Background()
	h := l.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	handle(ctx, h, msg, attrs)
}

// handle gives h an Info record of msg and attrs, without a source.
func handle(ctx context.Context, h slog.Handler, msg string, attrs []slog.Attr) {
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
	rec.AddAttrs(attrs...)
	_ = h.Handle(ctx, rec) // as Logger does: a failed log write is not the mail's failure
}

// sender writes the null reverse-path as "<>", so that bounces can be
// found with grep 'from=<>'.
func sender(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

func code(r Result) string {
	switch {
	case r.Code == 0:
		return ""
	case r.Code == 250 && r.Ext == "":
		return "250" // every accepted and delivered message: no allocation
	case r.Ext == "":
		return strconv.Itoa(r.Code)
	}
	return strconv.Itoa(r.Code) + " " + r.Ext
}

// oneLine keeps a multi-line reply on one log line and bounds it.
func oneLine(s string) string {
	if isOneLine(s) {
		return s // "", "INBOX": nothing to do, nothing allocated
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxText {
		s = strings.ToValidUTF8(s[:maxText], "") + "..."
	}
	return s
}

// isOneLine reports whether oneLine would return s unchanged: short,
// ASCII, no whitespace but single inner spaces.
func isOneLine(s string) bool {
	if len(s) > maxText {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false // unicode.IsSpace has non-ASCII spaces too
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' '):
			return false
		}
	}
	return true
}
