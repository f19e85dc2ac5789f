package delivery

import (
	"context"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// ForwardAdded is the sieve.ForwardGuard's Added hook: it logs a new
// forwarding destination of acct and puts a notice in the account's
// INBOX, in Chinese and English, so that a forward set up with a stolen
// password does not go unseen (issue 16 point 5). The notice is stored
// directly (no Sieve, no queue): it cannot itself be forwarded away.
func (d *Deliverer) ForwardAdded(ctx context.Context, acct store.AccountID, added, all []string) {
	a, err := d.Store.AccountByID(ctx, acct)
	if err != nil {
		d.log().Warn("forward added: no such account", "account", acct, "err", err)
		return
	}
	d.log().Info("forwarding destination added", "account", a.Address, "added", strings.Join(added, ","),
		"all", strings.Join(all, ","))
	msg := forwardNotice(a.Address, d.Hostname, added, all, time.Now())
	if _, err := d.Store.Deliver(ctx, store.Delivery{Data: msg, Targets: []store.Target{{Account: acct}}}); err != nil {
		d.log().Warn("forward added: notice not delivered", "account", a.Address, "err", err)
	}
}

// forwardNotice is the notice mail (RFC 3834 §5: Auto-Submitted, never
// answered by responders).
func forwardNotice(to, host string, added, all []string, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail System <postmaster@%s>\r\nTo: <%s>\r\n", host, to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.BEncoding.Encode("utf-8", "新的自动转发 / New forwarding address: "+strings.Join(added, ", ")))
	fmt.Fprintf(&b, "Date: %s\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <fwd.%d@%s>\r\n", now.UnixNano(), host)
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("您的邮箱刚刚新增了自动转发，新收到的邮件将被转发到：\r\n")
	for _, a := range added {
		b.WriteString("    " + a + "\r\n")
	}
	b.WriteString("如果这不是您本人的操作，您的密码可能已被盗用：请立即修改密码，并在设置页面的“自动转发”或“收信规则”中删除该转发。\r\n\r\n")
	b.WriteString("Your mailbox now forwards new mail to:\r\n")
	for _, a := range added {
		b.WriteString("    " + a + "\r\n")
	}
	b.WriteString("If you did not set this up, your password may be stolen: change it now and remove the forward\r\n" +
		"in the settings page (Forwarding or Rules).\r\n\r\n")
	b.WriteString("全部转发地址 / All forwarding addresses: " + strings.Join(all, ", ") + "\r\n")
	return []byte(b.String())
}
