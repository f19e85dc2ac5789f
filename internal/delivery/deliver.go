package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Recipient is one accepted RCPT with its resolution.
type Recipient struct {
	Address string // as given in RCPT TO
	Resolution
	DSN RcptDSN
}

// Envelope is an accepted SMTP transaction.
type Envelope struct {
	ID       string // our id, logged and put in Received:
	From     string // reverse-path; "" is the null sender
	Rcpts    []Recipient
	Ret      string // DSN RET
	EnvID    string // DSN ENVID
	Helo     string // what the client said in EHLO/HELO
	RemoteIP string // client address, "" if unknown
	// Protocol is the "with" clause of Received: (RFC 3848: ESMTP,
	// ESMTPS, ESMTPA, ESMTPSA).
	Protocol string
	TLS      string // e.g. "TLS1.3 TLS_AES_128_GCM_SHA256", "" without TLS
	Time     time.Time
	// Junk files the message into each local account's \Junk mailbox
	// instead of INBOX (DMARC p=quarantine, RFC 7489 §6.3).
	Junk bool
	// Fields are header fields, CRLF-terminated, that go right under our
	// Received: (the Authentication-Results of RFC 8601 §5): added
	// while the trace fields are, the message is copied once.
	Fields string
	// Suspect, if set, says why the sender may be forged (SPF or DMARC
	// failed): no automatic reply goes to it (RFC 3834 §2, RFC 5230
	// §4.6: responders must not make backscatter).
	Suspect string
	// CRLF says that the message handed to Deliver is in CRLF form
	// already, every CR and LF part of a CRLF pair (smtpd normalises
	// DATA and BDAT): neither delivery nor the store scans it again.
	// The trace fields delivery adds are checked on their own.
	CRLF bool
}

// Deliverer delivers accepted messages: locally through the store, and
// to other domains through the Queue.
type Deliverer struct {
	Store    store.Store
	Resolver *Resolver
	Queue    Queue // nil: no remote delivery (and no bounce to remote senders)
	Hostname string
	Logger   *slog.Logger
	// Sieve, if set, runs the accounts' Sieve scripts (sieve.go).
	Sieve *Sieve
	// Reports, if set, is shown each message stored for postmaster@ of a
	// local domain, after it is on stable storage, to collect the DMARC
	// and TLS reports other servers send there. It must not block long;
	// its failures are its own (the mail is delivered either way).
	Reports func(ctx context.Context, env *Envelope, msg []byte)
	// ARC, if set, seals the mail we forward to other domains (srs.go).
	ARC ARCSealer
}

// ResolverCacheTTL is how long the Resolver made by New remembers found
// domains and accounts, which saves two store queries per recipient
// under load.
const ResolverCacheTTL = 2 * time.Second

// New returns a Deliverer on st with a caching Resolver: the one
// delivery target the CLI builds and hands to every SMTP server and to
// the outbound queue's bounces, so that they share one resolver and one
// cache. q may be nil and set later (the queue needs the Deliverer for its
// local hooks before it exists).
func New(st store.Store, q Queue, hostname string, logger *slog.Logger) *Deliverer {
	return &Deliverer{Store: st, Resolver: &Resolver{Accounts: st, CacheTTL: ResolverCacheTTL},
		Queue: q, Hostname: hostname, Logger: logger}
}

// Deliver delivers data (the message as received, any line endings) to
// every recipient of env, and returns nil only when it is on stable
// storage everywhere or when a failure was turned into a bounce.
//
// The local copy is written once for all local accounts (store.Deliver
// with all targets, one blob). Policy when some local targets fail
// (quota): SMTP has one reply for DATA (go-smtp gives per-recipient
// replies to LMTP only), so if at least one target took the message and
// the sender is not null, we accept and send the sender a bounce for the
// failed ones (RFC 3464). With a null sender a bounce is forbidden (RFC
// 5321 §6.1), so the whole message is refused temporarily instead: quota
// is checked before anything is written, so this refusal normally creates
// no duplicate. Only when the store itself reports the failure after
// writing for others (a race with another delivery) can a retry duplicate
// the message for the targets that took it — we prefer that to losing it.
// If every target fails permanently, the error is the permanent one (552
// 5.2.2 for quota). Store and queue errors are ErrTemporary (451 4.3.0).
func (d *Deliverer) Deliver(ctx context.Context, env *Envelope, data []byte) error {
	return d.DeliverRoom(ctx, env, data, 0)
}

// DeliverRoom is Deliver of buf[room:], the bytes of buf before it being
// free: the trace fields of the local copy are written there, in front
// of the message, rather than into a new copy of it (10 KB less garbage
// per message of the MX path). The store keeps nothing of the bytes it
// is handed once Deliver returns (store.Delivery), so the caller may
// reuse buf afterwards.
func (d *Deliverer) DeliverRoom(ctx context.Context, env *Envelope, buf []byte, room int) error {
	data := buf[room:]
	ctx = maillog.WithID(ctx, env.ID) // the queue logs which message it took
	body := data
	if !env.CRLF {
		body = NormalizeCRLF(data)
	}
	if len(body) != len(data) {
		room = 0 // body is a copy (NormalizeCRLF only adds bytes)
	}
	local, remote := env.targets()
	if len(remote) > 0 && d.Queue == nil {
		return ErrRelayDenied // checked before anything is written
	}
	var failed []failure
	if len(local) > 0 {
		var err error
		local, failed, err = d.precheckQuota(ctx, local, int64(len(body)+512))
		if err != nil {
			return err
		}
		if len(env.reportable(failed)) > 0 && len(local)+len(remote) > 0 && !d.canBounce(ctx, env) {
			return ErrPartialNoBounce
		}
	}
	delivered := 0
	if len(local) > 0 {
		msg := d.localCopy(env, buf, room, body)
		// The store is told the copy is CRLF when the body is and the
		// trace fields in front of it (client-given names, the
		// Authentication-Results and spam fields) are: a scan of those
		// few hundred bytes rather than of the whole message.
		crlf := env.CRLF && message.IsCRLF(msg[:len(msg)-len(body)])
		var f []failure
		var n int
		var err error
		var folders []string // where Sieve filed it, by index of local
		if d.Sieve != nil {
			f, n, folders, err = d.deliverSieve(ctx, env, local, msg, crlf)
		} else {
			f, n, err = d.deliverLocal(ctx, local, msg, env.Junk, crlf)
		}
		if err != nil {
			return err
		}
		d.logDelivered(env, local, f, folders)
		failed = append(failed, f...)
		delivered += n
		if d.Reports != nil && n > 0 && env.toPostmaster() {
			d.Reports(ctx, env, body)
		}
	}
	if len(remote) > 0 {
		msg := d.withTrace(env, body, false)
		if err := d.enqueueRemote(ctx, env, remote, msg); err != nil {
			d.log().Error("enqueue failed", "id", env.ID, "err", err)
			return temporary(err)
		}
		delivered += len(remote)
	}
	if len(failed) == 0 {
		return nil
	}
	if delivered == 0 {
		return failed[0].err
	}
	report := env.reportable(failed)
	if len(report) < len(failed) {
		d.log().Info("failure not reported: NOTIFY excludes FAILURE", "id", env.ID, "failed", len(failed)-len(report))
	}
	if len(report) == 0 {
		d.logBounced(env, failed)
		return nil
	}
	if !d.canBounce(ctx, env) {
		d.log().Warn("partial delivery, cannot bounce: refusing temporarily", "id", env.ID, "failed", len(failed))
		return ErrPartialNoBounce
	}
	if err := d.bounce(ctx, env, report, body); err != nil {
		d.log().Error("bounce failed", "id", env.ID, "err", err)
		return temporary(err)
	}
	d.logBounced(env, failed)
	return nil
}

// failure is a final address that could not take the message.
type failure struct {
	addr string
	err  *Error
}

// reportable keeps the failures the sender wants to hear of: RFC 3461
// §4.1, a recipient whose NOTIFY lacks FAILURE (e.g. NOTIFY=NEVER) gets
// no failure DSN. An account reached through several recipients is
// reported if any of them wants it.
func (env *Envelope) reportable(failed []failure) []failure {
	var out []failure
	for _, f := range failed {
		for _, r := range env.Rcpts {
			if !r.reaches(f.addr) {
				continue
			}
			if len(r.DSN.Notify) == 0 || slices.Contains(r.DSN.Notify, "FAILURE") {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// reaches reports whether the recipient resolved to the local address.
func (r *Recipient) reaches(addr string) bool {
	for _, l := range r.Local {
		if strings.EqualFold(l.Address, addr) {
			return true
		}
	}
	return false
}

// targets returns the distinct local accounts and remote addresses of env.
func (env *Envelope) targets() ([]Local, []string) {
	var local []Local
	var remote []string
	seenA := map[store.AccountID]bool{}
	seenR := map[string]bool{}
	for _, r := range env.Rcpts {
		for _, l := range r.Local {
			if !seenA[l.Account] {
				seenA[l.Account] = true
				local = append(local, l)
			}
		}
		for _, a := range r.Remote {
			if k := strings.ToLower(a); !seenR[k] {
				seenR[k] = true
				remote = append(remote, a)
			}
		}
	}
	return local, remote
}

// remoteDSN gives each remote address the DSN parameters of the recipient
// that led to it.
func (env *Envelope) remoteDSN(remote []string) DSN {
	dsn := DSN{Ret: env.Ret, EnvID: env.EnvID, Rcpts: make([]RcptDSN, len(remote))}
	for i, a := range remote {
	found:
		for _, r := range env.Rcpts {
			for _, ra := range r.Remote {
				if strings.EqualFold(ra, a) {
					dsn.Rcpts[i] = r.DSN
					break found
				}
			}
		}
	}
	return dsn
}

// precheckQuota drops the accounts that cannot take size more bytes, so
// that nothing is written for a message we may have to refuse.
func (d *Deliverer) precheckQuota(ctx context.Context, local []Local, size int64) ([]Local, []failure, error) {
	var ok []Local
	var failed []failure
	for _, l := range local {
		if l.QuotaBytes == 0 {
			// Unlimited at RCPT time; if a limit was set since, the
			// store still enforces it (per-target ErrQuotaExceeded).
			ok = append(ok, l)
			continue
		}
		used, limit, err := d.Store.Quota(ctx, l.Account)
		if errors.Is(err, store.ErrNotFound) {
			failed = append(failed, failure{l.Address, ErrUnknownUser})
			continue
		}
		if err != nil {
			return nil, nil, temporary(err)
		}
		if limit > 0 && used+size > limit {
			failed = append(failed, failure{l.Address, ErrQuotaExceeded})
			continue
		}
		ok = append(ok, l)
	}
	return ok, failed, nil
}

// deliverLocal writes msg once for all accounts and returns the per-target
// failures and the number of targets that took it.
func (d *Deliverer) deliverLocal(ctx context.Context, local []Local, msg []byte, junk, crlf bool) ([]failure, int, error) {
	targets := make([]store.Target, len(local))
	for i, l := range local {
		targets[i] = store.Target{Account: l.Account}
		if junk {
			targets[i].Mailbox = d.junkMailbox(ctx, l.Account)
		}
	}
	res, err := d.Store.Deliver(ctx, store.Delivery{Data: msg, Targets: targets, CRLF: crlf})
	if err != nil {
		d.log().Error("store delivery failed", "err", err)
		return nil, 0, temporary(err)
	}
	if len(res) != len(local) {
		return nil, 0, temporary(fmt.Errorf("store returned %d results for %d targets", len(res), len(local)))
	}
	var failed []failure
	n := 0
	for i, r := range res {
		switch {
		case r.Err == nil:
			n++
		case errors.Is(r.Err, store.ErrQuotaExceeded):
			failed = append(failed, failure{local[i].Address, ErrQuotaExceeded})
		case errors.Is(r.Err, store.ErrNotFound):
			failed = append(failed, failure{local[i].Address, ErrUnknownUser})
		case errors.Is(r.Err, store.ErrTooLarge):
			failed = append(failed, failure{local[i].Address, errTooLarge})
		default:
			// An unknown per-target error might be transient: never
			// turn it into a permanent bounce.
			d.log().Error("store target failed", "account", local[i].Account, "err", r.Err)
			return nil, 0, temporary(r.Err)
		}
	}
	return failed, n, nil
}

var errTooLarge = &Error{Code: 552, Enhanced: [3]int{5, 3, 4}, Msg: "Message too large"}

// junkMailbox returns the account's \Junk mailbox, or 0 (INBOX) if it has
// none: a message is never lost for want of a Junk folder.
func (d *Deliverer) junkMailbox(ctx context.Context, acct store.AccountID) store.MailboxID {
	mbs, err := d.Store.Mailboxes(ctx, acct)
	if err != nil {
		return 0
	}
	for _, m := range mbs {
		if m.SpecialUse == store.SpecialJunk {
			return m.ID
		}
	}
	return 0
}

func (d *Deliverer) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// withTrace prepends the trace fields: Return-Path: on final delivery only
// (RFC 5321 §4.4: "the final delivery SMTP server inserts a return-path
// line"), and our Received: always (§4.4: each server that relays or
// delivers prepends one); then env.Fields. The fields are written
// straight into the new message, sized for them and the body: one
// allocation and one copy of the body.
func (d *Deliverer) withTrace(env *Envelope, body []byte, final bool) []byte {
	n := len(body) + len(env.Fields) + receivedLen(env, d.Hostname)
	if final {
		n += len("Return-Path: <>\r\n") + len(env.From)
	}
	return append(d.appendTrace(make([]byte, 0, n), env, final), body...)
}

// localCopy is withTrace(env, body, true) written in place when the
// fields fit in the room before body (body is buf[room:]).
func (d *Deliverer) localCopy(env *Envelope, buf []byte, room int, body []byte) []byte {
	if room > 0 {
		var tb [1024]byte
		t := d.appendTrace(tb[:0], env, true)
		if len(t) <= room {
			start := room - len(t)
			copy(buf[start:room], t)
			return buf[start : room+len(body)]
		}
	}
	return d.withTrace(env, body, true)
}

// appendTrace appends the trace fields of withTrace to b.
func (d *Deliverer) appendTrace(b []byte, env *Envelope, final bool) []byte {
	if final {
		b = append(b, "Return-Path: <"...)
		b = append(b, env.From...)
		b = append(b, ">\r\n"...)
	}
	b = appendReceived(b, env, d.Hostname)
	return append(b, env.Fields...)
}

// receivedLen is about the length of our Received: field (more only if
// sanitize replaces invalid UTF-8; append then grows the slice).
func receivedLen(env *Envelope, host string) int {
	n := 128 + len(env.Helo) + len(env.RemoteIP) + len(host) + len(env.Protocol) + len(env.TLS) + len(env.ID)
	if len(env.Rcpts) == 1 {
		n += len(env.Rcpts[0].Address)
	}
	return n
}

// appendReceived appends a Received: field (RFC 5321 §4.4 Time-stamp-line).
// The "for" clause names the recipient only when there is one, so that
// the shared blob does not disclose the other (Bcc) recipients.
func appendReceived(b []byte, env *Envelope, host string) []byte {
	b = append(b, "Received: from "...)
	b = append(b, sanitize(env.Helo, "unknown")...)
	if env.RemoteIP != "" {
		b = append(b, " (["...)
		b = append(b, sanitize(env.RemoteIP, "")...)
		b = append(b, "])"...)
	}
	b = append(b, "\r\n\tby "...)
	b = append(b, sanitize(host, "localhost")...)
	b = append(b, " (youju) with "...)
	b = append(b, sanitize(env.Protocol, "ESMTP")...)
	if env.TLS != "" {
		b = append(b, " ("...)
		b = append(b, sanitize(env.TLS, "")...)
		b = append(b, ")"...)
	}
	if env.ID != "" {
		b = append(b, " id "...)
		b = append(b, sanitize(env.ID, "")...)
	}
	if len(env.Rcpts) == 1 {
		b = append(b, "\r\n\tfor <"...)
		b = append(b, sanitize(env.Rcpts[0].Address, "")...)
		b = append(b, ">"...)
	}
	t := env.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = append(b, "; "...)
	b = t.AppendFormat(b, time.RFC1123Z)
	return append(b, "\r\n"...)
}

// sanitize keeps client-given text from breaking a header: no controls,
// no parentheses or angle brackets that would end our comment or path.
func sanitize(s, def string) string {
	if s == "" {
		return def
	}
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '(' || r == ')' || r == '<' || r == '>' || r == ';' {
			return '_'
		}
		return r
	}, s)
}

// NormalizeCRLF returns b with every bare LF turned into CRLF (bare CR is
// left alone). It returns b itself when nothing needs changing, which is
// the common case, found with the vectorised bytes.IndexByte.
func NormalizeCRLF(b []byte) []byte {
	var out []byte
	start := 0 // b[start:] not yet copied to out
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			if out == nil {
				out = make([]byte, 0, len(b)+len(b)/32+2)
			}
			out = append(out, b[start:i]...)
			out = append(out, '\r')
			start = i
		}
		i++
	}
	if out == nil {
		return b
	}
	return append(out, b[start:]...)
}

// toPostmaster reports whether a recipient is postmaster@ (RFC 5321
// §4.5.1), where our DMARC and TLS-RPT records ask for reports.
func (env *Envelope) toPostmaster() bool {
	for _, r := range env.Rcpts {
		local, _, _ := strings.Cut(r.Address, "@")
		if strings.EqualFold(local, "postmaster") {
			return true
		}
	}
	return false
}
