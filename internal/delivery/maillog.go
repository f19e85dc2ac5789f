package delivery

import (
	"fmt"

	"github.com/youju/youju/internal/maillog"
)

// logDelivered writes the maillog "delivered" event of each local account
// that took the message (local minus failed). The message is on stable
// storage by then, even if the SMTP reply later turns out temporary.
// folders, if set, names where a Sieve script filed it for each account
// (by index of local; "" for none): "INBOX", "Work", "Junk,Archive",
// "(discarded)". A slice rather than a map: one allocation fewer per
// message of the MX path.
func (d *Deliverer) logDelivered(env *Envelope, local []Local, failed []failure, folders []string) {
	mailbox := "INBOX"
	if env.Junk {
		mailbox = "Junk" // or INBOX for an account without one
	}
next:
	for i, l := range local {
		for _, f := range failed {
			if f.addr == l.Address {
				continue next
			}
		}
		mb := mailbox
		if i < len(folders) && folders[i] != "" {
			mb = folders[i]
		}
		maillog.Delivered(d.logMsg(env, l.Address), "", maillog.Result{Code: 250, Text: mb})
	}
}

// logBounced writes the maillog "bounced" event of each local address
// that could not take a message that was accepted for others.
func (d *Deliverer) logBounced(env *Envelope, failed []failure) {
	for _, f := range failed {
		e := f.err.Enhanced
		maillog.Bounced(d.logMsg(env, f.addr), "", maillog.Result{Code: f.err.Code,
			Ext: fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]), Text: f.err.Msg})
	}
}

func (d *Deliverer) logMsg(env *Envelope, to string) maillog.Msg {
	return maillog.Msg{ID: env.ID, From: env.From, To: []string{to}, Proto: "local"}
}
