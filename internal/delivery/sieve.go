package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/sieve"
	"github.com/youju/youju/internal/store"
)

// Sieve runs the accounts' active Sieve scripts at local delivery
// (internal/sieve), for every path that reaches deliverLocal through
// Deliver: MX, submission to local users, aliases, and the redirects and
// vacation replies of other scripts.
type Sieve struct {
	Scripts sieve.Scripts
	Tracker sieve.Tracker
	Options sieve.Options
	// MaxForwards bounds an account's forwarding destinations, as the
	// sieve.ForwardGuard of its tools does ([spam] max_forwards; 0: the
	// default): here for those that variables build at delivery.
	MaxForwards int
}

// errRejected is a Sieve reject (RFC 5429): refused at SMTP time when
// nothing else took the message, else reported by a DSN (Deliver's
// failure path does both).
func errRejected(reason string) *Error {
	if reason == "" {
		reason = "Message rejected by the recipient's filter"
	}
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, reason)
	return &Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Msg: reason}
}

// sidePlan is what a script asked for beside storing the message.
type sidePlan struct {
	acct      Local
	rcpt      string
	redirects []string
	vacation  *sieve.Vacation
	smsg      *sieve.Message
}

// deliverSieve is deliverLocal with each account's script applied: it
// computes every account's targets, sends redirects first (so that a
// failed redirect still keeps the message), stores all targets in one
// store.Deliver, then sends vacation replies.
func (d *Deliverer) deliverSieve(ctx context.Context, env *Envelope, local []Local, msg []byte, crlf bool) ([]failure, int, []string, error) {
	var targets []store.Target
	var owner []int // index into local of each target
	var failed []failure
	var sides []sidePlan
	// folders[i] is where local[i]'s script filed it ("" if it failed).
	folders := make([]string, len(local))
	handled := 0 // accounts done without a target (discard, reject)
	for i, l := range local {
		ts, side, fail := d.sieveAccount(ctx, env, l, msg)
		if fail != nil {
			failed = append(failed, *fail)
			continue
		}
		folders[i] = d.folderNames(ctx, l.Account, ts, side)
		if len(ts) == 0 {
			handled++
		}
		for _, t := range ts {
			targets = append(targets, t)
			owner = append(owner, i)
		}
		if side != nil {
			sides = append(sides, *side)
		}
	}
	n := handled
	if len(targets) > 0 {
		res, err := d.Store.Deliver(ctx, store.Delivery{Data: msg, Targets: targets, CRLF: crlf})
		if err != nil {
			d.log().Error("store delivery failed", "err", err)
			return nil, 0, nil, temporary(err)
		}
		if len(res) != len(targets) {
			return nil, 0, nil, temporary(fmt.Errorf("store returned %d results for %d targets", len(res), len(targets)))
		}
		f, k, err := d.sieveResults(local, owner, res)
		if err != nil {
			return nil, 0, nil, err
		}
		failed, n = append(failed, f...), n+k
	}
	for _, s := range sides {
		d.sendVacation(ctx, env, s)
	}
	return failed, n, folders, nil
}

// folderNames says, for the maillog, where a script put the message:
// the mailboxes' names (comma-separated), "(redirected)" or
// "(discarded)" when it kept no copy.
func (d *Deliverer) folderNames(ctx context.Context, acct store.AccountID, ts []store.Target, side *sidePlan) string {
	if len(ts) == 0 {
		if side != nil && len(side.redirects) > 0 {
			return "(redirected)"
		}
		return "(discarded)"
	}
	var names map[store.MailboxID]string
	var out []string
	for _, t := range ts {
		if t.Mailbox == 0 {
			out = append(out, "INBOX")
			continue
		}
		if names == nil {
			names = map[store.MailboxID]string{}
			if mbs, err := d.Store.Mailboxes(ctx, acct); err == nil {
				for _, m := range mbs {
					names[m.ID] = m.Name
				}
			}
		}
		if n, ok := names[t.Mailbox]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("mailbox %d", t.Mailbox))
		}
	}
	return strings.Join(out, ",")
}

// sieveResults folds per-target results into per-account ones: an
// account took the message if any of its targets did.
func (d *Deliverer) sieveResults(local []Local, owner []int, res []store.TargetResult) ([]failure, int, error) {
	ok := make([]bool, len(local))
	firstErr := make([]error, len(local))
	for j, r := range res {
		i := owner[j]
		if r.Err == nil {
			ok[i] = true
		} else if firstErr[i] == nil {
			firstErr[i] = r.Err
		}
	}
	var failed []failure
	n := 0
	for i := range local {
		switch err := firstErr[i]; {
		case ok[i]:
			n++
		case err == nil:
			// no target of this account (not reached)
		case errors.Is(err, store.ErrQuotaExceeded):
			failed = append(failed, failure{local[i].Address, ErrQuotaExceeded})
		case errors.Is(err, store.ErrNotFound):
			failed = append(failed, failure{local[i].Address, ErrUnknownUser})
		case errors.Is(err, store.ErrTooLarge):
			failed = append(failed, failure{local[i].Address, errTooLarge})
		default:
			d.log().Error("store target failed", "account", local[i].Account, "err", err)
			return nil, 0, temporary(err)
		}
	}
	return failed, n, nil
}

// rcptFor is the address the message was sent to for l (an alias, a
// +tag, or the account's own).
func (env *Envelope) rcptFor(l Local) string {
	for _, r := range env.Rcpts {
		if r.reaches(l.Address) {
			return r.Address
		}
	}
	return l.Address
}

// sieveAccount runs l's script and returns its targets, the side effects
// to carry out after storing, or a failure (reject).
func (d *Deliverer) sieveAccount(ctx context.Context, env *Envelope, l Local, msg []byte) ([]store.Target, *sidePlan, *failure) {
	keep := store.Target{Account: l.Account}
	if env.Junk {
		keep.Mailbox = d.junkMailbox(ctx, l.Account)
	}
	script, name, err := d.Sieve.Scripts.Active(ctx, l.Account)
	if err != nil {
		d.scriptFailed(ctx, l, name, err)
		return []store.Target{keep}, nil, nil
	}
	if script == nil {
		return []store.Target{keep}, nil, nil
	}
	rcpt := env.rcptFor(l)
	smsg, err := sieve.NewMessage(msg, env.From, rcpt)
	if err != nil {
		return []store.Target{keep}, nil, nil
	}
	res, err := script.Run(smsg, d.Sieve.Options)
	if err != nil {
		d.scriptFailed(ctx, l, name, err)
		return []store.Target{keep}, nil, nil
	}
	if res.Rejected {
		if env.From == "" {
			// RFC 5429 §2.1: never answer the null sender; discard.
			d.log().Info("sieve: reject of a null-sender message: discarded", "id", env.ID, "account", l.Address)
			return nil, nil, nil
		}
		if len(env.Rcpts) > 1 && !d.canBounce(ctx, env) {
			// Others take it, and no DSN can reach the sender.
			d.log().Info("sieve: reject cannot be reported: discarded", "id", env.ID, "account", l.Address)
			return nil, nil, nil
		}
		return nil, nil, &failure{l.Address, errRejected(res.Reject)}
	}
	side := &sidePlan{acct: l, rcpt: rcpt, vacation: res.Vacation, smsg: smsg, redirects: res.Redirects}
	kept := res.Keep
	for _, to := range res.Redirects {
		if !d.forwardAllowed(ctx, env, l, script, to) {
			kept = true
			continue
		}
		if err := d.redirect(ctx, env, l, to, msg); err != nil {
			d.log().Warn("sieve: redirect failed: keeping the message", "id", env.ID, "account", l.Address, "to", to, "err", err)
			kept = true
		}
	}
	var ts []store.Target
	add := func(t store.Target) {
		for i := range ts {
			if ts[i].Mailbox == t.Mailbox {
				ts[i].Flags = t.Flags // RFC 5228 §2.10.3: one copy per mailbox
				return
			}
		}
		ts = append(ts, t)
	}
	if kept {
		keep.Flags = store.FlagsFromNames(res.KeepFlags)
		add(keep)
	}
	for _, f := range res.FileInto {
		mb, err := d.sieveMailbox(ctx, l.Account, f)
		if err != nil {
			d.log().Warn("sieve: fileinto failed: keeping in INBOX", "id", env.ID, "account", l.Address, "mailbox", f.Mailbox, "err", err)
			mb = 0
		}
		add(store.Target{Account: l.Account, Mailbox: mb, Flags: store.FlagsFromNames(f.Flags)})
	}
	return ts, side, nil
}

// sieveMailbox finds the mailbox of a fileinto, creating it for :create
// (RFC 5490 §3). Without :create a missing mailbox is an error, and the
// message goes to INBOX (RFC 5228 §4.1 lets us keep it).
func (d *Deliverer) sieveMailbox(ctx context.Context, acct store.AccountID, f sieve.FileInto) (store.MailboxID, error) {
	mb, err := d.Store.Mailbox(ctx, acct, f.Mailbox)
	if err == nil {
		return mb.ID, nil
	}
	if !errors.Is(err, store.ErrNotFound) || !f.Create {
		return 0, err
	}
	mb, err = d.Store.CreateMailbox(ctx, acct, f.Mailbox, "")
	if errors.Is(err, store.ErrExists) {
		mb, err = d.Store.Mailbox(ctx, acct, f.Mailbox)
	}
	return mb.ID, err
}

// redirect sends msg on to another address with the original envelope
// sender (RFC 5228 §4.2), marked with the loop header naming the
// account; a message that already carries that mark is not redirected
// again (the caller keeps it).
//
// A redirect to another domain travels with an SRS envelope sender (as
// an alias's forward does, srs.go), so that SPF passes at the
// destination and bounces come back through us, and with our ARC seal
// (RFC 8617); it goes through the outbound queue like any remote mail.
func (d *Deliverer) redirect(ctx context.Context, env *Envelope, l Local, to string, msg []byte) error {
	mark := sieve.LoopHeader + ": " + l.Address + "\r\n"
	switch mine, all := loopMarks(msg, l.Address); {
	case mine:
		return errors.New("redirect loop: the message was redirected by this account before")
	case all >= maxRedirectHops:
		return fmt.Errorf("redirected %d times already", all)
	}
	if d.Resolver == nil {
		return errors.New("no resolver")
	}
	res, err := d.Resolver.Resolve(ctx, to, true)
	if err != nil {
		return err
	}
	out := append([]byte(mark), msg...)
	from := env.From
	if srs := d.Resolver.SRS; srs != nil && len(res.Remote) > 0 && from != "" && !d.senderIsLocal(ctx, from) {
		from = srs.Forward(from)
		out = d.seal(env, out)
	}
	renv := &Envelope{ID: env.ID + "-redirect", From: from, Protocol: "local", Helo: d.Hostname,
		Time: time.Now(), Rcpts: []Recipient{{Address: to, Resolution: res}}}
	if err := d.Deliver(ctx, renv, out); err != nil {
		return err
	}
	// Logged at Info: a forward set up with a stolen password leaves a
	// trace.
	d.log().Info("sieve: redirected", "id", env.ID, "account", l.Address, "to", to, "from", from)
	return nil
}

// forwardAllowed applies the account's limit of forwarding destinations
// to a redirect as the script expanded it (sieve.AllowForward): a new
// destination within the limit is logged and announced like one added
// to a script; one past it is not redirected (the message is kept),
// logged, and the account's owner is told once.
func (d *Deliverer) forwardAllowed(ctx context.Context, env *Envelope, l Local, script *sieve.Script, to string) bool {
	ok, isNew, err := sieve.AllowForward(ctx, d.Sieve.Tracker, l.Account, script, d.Sieve.MaxForwards, to)
	switch {
	case err != nil:
		d.log().Warn("sieve: forwarding limit not checked: keeping the message", "id", env.ID, "account", l.Address, "to", to, "err", err)
		return false
	case isNew:
		d.ForwardAdded(ctx, l.Account, []string{strings.ToLower(to)}, script.Forwards())
	case !ok:
		d.log().Warn("sieve: redirect past the forwarding limit: not sent, message kept", "id", env.ID, "account", l.Address, "to", to)
		d.forwardRefused(ctx, l, to)
	}
	return ok
}

// forwardRefused tells the account's owner, once per destination, that
// its script tried to forward past the limit.
func (d *Deliverer) forwardRefused(ctx context.Context, l Local, to string) {
	if d.Sieve.Tracker == nil {
		return
	}
	if ok, err := d.Sieve.Tracker.Respond(ctx, l.Account, "fwdrefused\x00"+strings.ToLower(to), noticePeriod); err != nil || !ok {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail System <postmaster@%s>\r\nTo: <%s>\r\n", d.Hostname, l.Address)
	b.WriteString("Subject: =?utf-8?b?6L2s5Y+R5pyq5omn6KGM?= (forward not sent)\r\n") // 转发未执行
	fmt.Fprintf(&b, "Date: %s\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Your mail rules tried to forward a message to %s, which would exceed the number of\r\n"+
		"forwarding addresses an account may have. It was not forwarded; the message is in your INBOX.\r\n\r\n", to)
	fmt.Fprintf(&b, "您的收信规则试图将邮件转发到 %s，超出了每个账户允许的转发地址数量，未转发；邮件已保存在收件箱。\r\n", to)
	if _, err := d.Store.Deliver(ctx, store.Delivery{Data: []byte(b.String()), Targets: []store.Target{{Account: l.Account}}}); err != nil {
		d.log().Warn("sieve: notice not delivered", "account", l.Address, "err", err)
	}
}

// maxRedirectHops bounds how many accounts' scripts may redirect one
// message in a chain: with up to sieve.DefaultMaxRedirects each, a chain
// through many accounts would otherwise fan out without end.
const maxRedirectHops = 8

// loopMarks reports whether msg carries addr's loop mark, and how many
// loop marks it carries.
func loopMarks(msg []byte, addr string) (mine bool, all int) {
	h, err := message.ReadHeader(msg, message.HeaderLimits{})
	if err != nil {
		return false, 0
	}
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, sieve.LoopHeader) {
			all++
			mine = mine || strings.EqualFold(string(bytes.TrimSpace(f.Value)), addr)
		}
	}
	return mine, all
}

// sendVacation answers a message for a vacation action, when RFC 5230 and
// RFC 3834 allow and the sender was not answered within :days. Failures
// are logged: the message itself is delivered by then.
func (d *Deliverer) sendVacation(ctx context.Context, env *Envelope, s sidePlan) {
	v := s.vacation
	if v == nil {
		return
	}
	own := []string{s.acct.Address, s.rcpt}
	why := sieve.VacationSkip(s.smsg, v, own)
	if why == "" {
		why = env.noAutoReply()
	}
	if why != "" {
		d.log().Debug("sieve: no vacation reply", "id", env.ID, "account", s.acct.Address, "why", why)
		return
	}
	if d.Sieve.Tracker != nil {
		ok, err := d.Sieve.Tracker.Respond(ctx, s.acct.Account, sieve.VacationKey(s.smsg, v), sieve.VacationPeriod(v))
		if err != nil || !ok {
			if err != nil {
				d.log().Warn("sieve: vacation tracking failed", "account", s.acct.Address, "err", err)
			}
			return
		}
	}
	reply := sieve.VacationReply(s.smsg, v, s.rcpt, d.Hostname, time.Now())
	res, err := d.Resolver.Resolve(ctx, env.From, true)
	if err == nil {
		venv := &Envelope{ID: env.ID + "-vacation", Protocol: "local", Helo: d.Hostname, Time: time.Now(),
			Rcpts: []Recipient{{Address: env.From, Resolution: res}}}
		err = d.Deliver(ctx, venv, reply)
	}
	if err != nil {
		d.log().Warn("sieve: vacation reply failed", "id", env.ID, "account", s.acct.Address, "err", err)
	}
}

// noticePeriod is how long one script failure is not reported again.
const noticePeriod = 30 * 24 * time.Hour

// scriptFailed logs a failing script and, once per script and error,
// puts a notice in the account's INBOX.
func (d *Deliverer) scriptFailed(ctx context.Context, l Local, name string, err error) {
	d.log().Warn("sieve: script failed: message kept in INBOX", "account", l.Address, "script", name, "err", err)
	if d.Sieve.Tracker == nil {
		return
	}
	key := "notice\x00" + name + "\x00" + err.Error()
	ok, terr := d.Sieve.Tracker.Respond(ctx, l.Account, sieve.VacationKey(&sieve.Message{}, &sieve.Vacation{Handle: key}), noticePeriod)
	if terr != nil || !ok {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail System <postmaster@%s>\r\nTo: <%s>\r\n", d.Hostname, l.Address)
	b.WriteString("Subject: =?utf-8?b?5pS25L+h6KeE5YiZ5Ye66ZSZ?= (mail filter error)\r\n") // 收信规则出错
	fmt.Fprintf(&b, "Date: %s\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Your Sieve script %q failed and was not applied; messages are delivered to INBOX until it is fixed.\r\n\r\n", name)
	fmt.Fprintf(&b, "Error: %s\r\n\r\n您的收信规则（Sieve 脚本）出错，未生效；修正前邮件将投递到收件箱。\r\n", err)
	if _, derr := d.Store.Deliver(ctx, store.Delivery{Data: []byte(b.String()), Targets: []store.Target{{Account: l.Account}}}); derr != nil {
		d.log().Warn("sieve: notice not delivered", "account", l.Address, "err", derr)
	}
}

// noAutoReply says why no automatic reply (vacation) may go to env's
// sender, "" if one may: a sender that failed SPF or DMARC is likely
// forged, and mail filed as spam likely too — a reply would be
// backscatter to an innocent address (RFC 3834 §2, RFC 5230 §4.6).
func (env *Envelope) noAutoReply() string {
	switch {
	case env.Suspect != "":
		return env.Suspect
	case env.Junk:
		return "filed as spam"
	}
	return ""
}
