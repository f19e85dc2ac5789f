package smtpd

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/mailauth"
	"github.com/youju/youju/internal/maillog"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/spam"
)

// The anti-spam hooks of the MX port (internal/spam does the work). They
// apply to clients that did not log in; a session on port 25 that
// authenticated is one of ours.

// startSpam begins the connection checks and, if configured, waits a
// moment before the greeting to see whether the client talks first
// (postscreen's pregreet test: RFC 5321 §3.1 has the client wait for the
// 220). What it sent is kept and read as its commands. It returns false
// if the connection died meanwhile.
func (s *Server) startSpam(nc *netserver.Conn, tc *trackedConn) bool {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		ip = ap.Addr().Unmap()
	}
	tc.spam = s.Spam.Start(nc.Context(), ip)
	if s.Spam.Pregreet <= 0 || tc.lc == nil {
		return true
	}
	nc.SetReadDeadline(time.Now().Add(s.Spam.Pregreet))
	err := tc.lc.fill(lineConnBuf)
	nc.SetReadDeadline(time.Time{})
	if err == nil {
		tc.spam.SetPregreet()
		s.log().Info("client talked before the greeting", "remote", ip.String())
		return true
	}
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		spam.Checks.With("pregreet", "pass").Inc()
		return true
	}
	return false
}

// spamConn is the connection's checks, nil when they do not apply.
func (ss *session) spamConn() *spam.Conn {
	if ss.s.Spam == nil || ss.s.Mode != Inbound || ss.tc == nil || ss.account() != nil {
		return nil
	}
	return ss.tc.spam
}

// spamMail refuses a client a DNSBL lists, when so configured: at MAIL
// FROM rather than at connect, so that its log has the sender (and a
// user of ours may still AUTH on port 25).
func (ss *session) spamMail(from string) error {
	cc := ss.spamConn()
	if cc == nil || !ss.s.Spam.DNSBLReject || len(ss.s.Spam.DNSBLs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ss.connCtx(), ss.s.dataTimeout())
	defer cancel()
	if _, zone := cc.Wait(ctx); zone != "" {
		ss.logger().Info("rejected", "reason", "dnsbl", "zone", zone, "from", from)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Service unavailable; client [" + ss.remote.String() + "] blocked using " + zone}
	}
	return nil
}

// spamRcpt greylists a recipient of ours (RFC 6647 §2.1: 451 4.7.1).
func (ss *session) spamRcpt(env *delivery.Envelope, to string, res delivery.Resolution) error {
	cc := ss.spamConn()
	if cc == nil || ss.s.Spam.Greylist == nil || len(res.Local) == 0 {
		return nil
	}
	if ss.s.Spam.Greylist.Check(ss.remote, env.From, to) {
		return nil
	}
	ss.logger().Info("greylisted", "from", env.From, "rcpt", to)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: "Greylisted, please try again later"}
}

// spamData scores the message: the connection's checks, the HELO name
// and the authentication results. It sets env.Junk and adds the
// X-Youju-Spam field, or returns the 550 that refuses the message.
func (ss *session) spamData(ctx context.Context, env *delivery.Envelope, auth *mailauth.Verdict, data []byte) error {
	cc := ss.spamConn()
	if cc == nil {
		return nil
	}
	score, _ := cc.Wait(ctx)
	score.Merge(ss.heloScore())
	if auth != nil {
		score.Merge(spam.AuthScore(auth.Result))
		score.Merge(ss.s.Spam.KnownScore(filterAccount(env), env.From, auth.Result))
	}
	ss.bayes(env, data, &score)
	if ss.s.Spam.Clamd != nil || ss.s.Spam.Rspamd != nil {
		if err := ss.scan(ctx, env, data, &score); err != nil {
			return err
		}
	}
	verdict := ss.s.Spam.Verdict(score)
	spam.Checks.With("verdict", verdict).Inc()
	reasons := score.String()
	// docs/spam.md: the line "spam verdict verdict=... score=... reasons=...".
	maillog.Info(ss.logger(), "spam verdict", slog.String("verdict", verdict), slog.Float64("score", score.Total),
		slog.String("reasons", reasons))
	if verdict == spam.Reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Message refused as spam"}
	}
	if verdict == spam.Junk {
		env.Junk = true
	}
	env.Fields += spam.HeaderOf(verdict, score.Total, reasons)
	return nil
}

// heloScore is the HELO name's score, worked out once per name and
// session rather than per message: the check may ask the store whether
// the name is one of our domains. A later EHLO (RFC 5321 §4.1.4) keeps
// the session but may give another name.
func (ss *session) heloScore() spam.Score {
	name := ss.c.Hostname()
	ss.heloMu.Lock()
	defer ss.heloMu.Unlock()
	if !ss.heloDone || ss.heloName != name {
		ss.helo, ss.heloName, ss.heloDone = ss.s.Spam.HELOScore(name, ss.remote), name, true
	}
	return ss.helo
}

// bayes adds the learning filter's opinion. The message is tokenized
// only when the filter has learnt enough to classify it: tokenizing is
// the dearest step of the MX path's per-message checks.
func (ss *session) bayes(env *delivery.Envelope, data []byte, score *spam.Score) {
	f := ss.s.Spam.Filter
	if f == nil {
		return
	}
	acct := filterAccount(env)
	ready, err := f.Ready(acct)
	if err == nil && ready {
		var p float64
		if p, ready, err = f.Classify(acct, spam.Tokens(data)); err == nil && ready {
			score.Merge(spam.BayesScore(p))
		}
	}
	if err != nil {
		ss.logger().Warn("spam filter", "err", err)
	}
}

// scan runs the external scanners: a virus is refused (550 5.7.1), a
// scanner that cannot answer refuses temporarily when so configured.
func (ss *session) scan(ctx context.Context, env *delivery.Envelope, data []byte, score *spam.Score) error {
	se := spam.Envelope{IP: ss.remote.String(), Helo: ss.c.Hostname(), From: env.From, ID: env.ID}
	for _, r := range env.Rcpts {
		se.Rcpts = append(se.Rcpts, r.Address)
	}
	res := ss.s.Spam.Scan(ctx, se, data)
	if res.Virus != "" {
		ss.logger().Info("rejected", "reason", "virus", "virus", res.Virus, "from", env.From)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Message refused: it contains malware (" + res.Virus + ")"}
	}
	if res.Tempfail {
		ss.logger().Info("deferred", "reason", "scanner", "rspamd_action", res.RspamdAct)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: "Message could not be scanned now, try again later"}
	}
	score.Merge(res.Score)
	return nil
}

// filterAccount is the account whose learnt filter judges the message:
// the recipients' one if they are one account, else the global filter
// (one reply for DATA means one verdict for all recipients).
func filterAccount(env *delivery.Envelope) int64 {
	acct := int64(-1)
	for _, r := range env.Rcpts {
		for _, l := range r.Local {
			switch {
			case acct == -1:
				acct = int64(l.Account)
			case acct != int64(l.Account):
				return spam.Global
			}
		}
	}
	if acct < 0 {
		return spam.Global
	}
	return acct
}

// remoteRcpts are the envelope's addresses in other domains.
func remoteRcpts(env *delivery.Envelope) []string {
	var out []string
	for _, r := range env.Rcpts {
		out = append(out, r.Remote...)
	}
	return out
}

// sendLimit refuses, temporarily, a message of an account past its
// sending limits (docs/spam.md): a phished password must not turn the
// domain into a spam source. A message it lets through is counted at
// once (the grant: spamSent confirms it, sendCancel gives it back).
func (ss *session) sendLimit(env *delivery.Envelope) (*spam.Grant, error) {
	acct := ss.account()
	if acct == nil || ss.s.Spam == nil || ss.s.Spam.Send == nil {
		return nil, nil
	}
	rcpts := remoteRcpts(env)
	if len(rcpts) == 0 {
		return nil, nil
	}
	g, ok, why := ss.s.Spam.Send.Allow(int64(acct.ID), rcpts)
	if !ok {
		spam.Checks.With("sendlimit", "exceeded").Inc()
		ss.logger().Warn("sending limit reached", "limit", why, "rcpts", len(rcpts))
		held := ss.holdBurst(acct.Address, why)
		if ss.s.Spam.Send.ShouldAlert(int64(acct.ID)) {
			go ss.alertPostmaster(acct.Address, why, held)
		}
		return nil, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: "Sending limit reached (" + why + "); try again later or ask your administrator"}
	}
	return g, nil
}

// sendCancel gives back the count of a message that was not accepted.
func (ss *session) sendCancel(g *spam.Grant) {
	if g != nil {
		ss.s.Spam.Send.Cancel(g)
	}
}

// holdBurst holds the queued mail of an account that reached a limit of
// new recipients (issue 15: a sudden burst to many addresses it never
// wrote to is what a stolen password looks like): what it queued before
// the limit is not sent until an administrator releases it (youju queue
// release) or deletes it. It returns how many messages it held.
func (ss *session) holdBurst(addr, why string) int {
	if ss.s.HoldFrom == nil || !strings.HasPrefix(why, "new recipients") {
		return 0
	}
	ctx, cancel := context.WithTimeout(ss.s.ctx, 30*time.Second)
	defer cancel()
	n, err := ss.s.HoldFrom(ctx, addr)
	if err != nil {
		ss.logger().Error("holding the queued mail of a bursting account", "account", addr, "err", err)
		return 0
	}
	ss.logger().Warn("queued mail held for review", "account", addr, "held", n)
	return n
}

// alertPostmaster tells the postmaster of the account's domain (RFC
// 5321 §4.5.1: every domain has one) that an account reached a sending
// limit: a stolen password is the usual cause.
func (ss *session) alertPostmaster(addr, why string, held int) {
	dom := addr[strings.LastIndexByte(addr, '@')+1:]
	to := "postmaster@" + dom
	ctx, cancel := context.WithTimeout(ss.s.ctx, time.Minute)
	defer cancel()
	res, err := ss.s.Deliverer.Resolver.Resolve(ctx, to, false)
	if err != nil || len(res.Local) == 0 {
		ss.logger().Warn("no postmaster to alert", "rcpt", to, "err", err)
		return
	}
	now := time.Now()
	msg := "From: " + to + "\r\nTo: " + to + "\r\nSubject: Sending limit reached by " + addr +
		"\r\nDate: " + now.Format(time.RFC1123Z) + "\r\nAuto-Submitted: auto-generated\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
		"The account " + addr + " reached its sending limit (" + why + ") and its mail to other\r\n" +
		"domains is refused until the count falls. If its owner did not send that much, its\r\n" +
		"password may be stolen: change it (youju user passwd) and look at the log.\r\n"
	if held > 0 {
		msg += "\r\n" + strconv.Itoa(held) + " message(s) it had queued are held for review: see\r\n" +
			"'youju queue list', then 'youju queue release ID' or 'youju queue delete ID'.\r\n"
	}
	env := &delivery.Envelope{From: "", ID: ss.id + ".alert", Time: now, Protocol: "local",
		Rcpts: []delivery.Recipient{{Address: to, Resolution: res}}}
	if err := ss.s.Deliverer.Deliver(ctx, env, []byte(msg)); err != nil {
		ss.logger().Warn("postmaster alert failed", "err", err)
	}
}

// spamSent records the message of grant g as sent (its recipients
// become known correspondents) and trains the sender's filter with what
// it sends: ham.
func (ss *session) spamSent(env *delivery.Envelope, data []byte, g *spam.Grant) {
	acct := ss.account()
	if acct == nil || ss.s.Spam == nil {
		return
	}
	if g != nil {
		ss.s.Spam.Send.Sent(g, remoteRcpts(env))
	}
	if ss.s.Spam.Filter == nil {
		return
	}
	f, id, log := ss.s.Spam.Filter, int64(acct.ID), ss.logger()
	data = append([]byte(nil), data[:min(len(data), 256<<10)]...)
	go func() {
		if err := f.Learn(id, data, false); err != nil {
			log.Warn("spam filter: learning sent mail", "err", err)
		}
	}()
}

// spamDelivered auto-whitelists, for greylisting, a sender whose mail
// passed SPF or DKIM for its domain (RFC 6647 §4.3).
func (ss *session) spamDelivered(env *delivery.Envelope, auth *mailauth.Verdict) {
	if ss.spamConn() == nil || ss.s.Spam.Greylist == nil || auth == nil {
		return
	}
	if spam.Authenticated(auth.Result, env.From) {
		ss.s.Spam.Greylist.Whitelist(ss.remote, env.From)
	}
}

// stripSpamField removes X-Youju-Spam fields that came with the message,
// before ours is added: users and Sieve rules trust the field, so a
// sender must not be able to write it (as mailauth removes forged
// Authentication-Results of ours, RFC 8601 §5).
func stripSpamField(data []byte) []byte { return spam.StripHeader(data) }

// suspectSender says why the envelope sender may be forged ("" if
// nothing says so): an SPF fail or softfail (RFC 7208 §8.4, §8.5) or a
// DMARC fail (RFC 7489). Vacation replies are not sent to such senders
// (delivery.Envelope.Suspect).
func suspectSender(r mailauth.Result) string {
	switch {
	case r.DMARC.Result == "fail":
		return "DMARC fail"
	case r.SPF.Result == "fail" || r.SPF.Result == "softfail":
		return "SPF " + string(r.SPF.Result)
	}
	return ""
}
