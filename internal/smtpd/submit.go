package smtpd

import (
	"bytes"
	"context"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/store"
)

// Submit sends msg for acct as if its client had submitted it on this
// server after AUTH: the same MAIL FROM check (the sender must be the
// account's, or an alias it may send as), per-recipient resolution and
// quota checks, From: header policy, Date/Message-ID completion, sending
// limits with the hold of a bursting account, local delivery and the
// outbound queue (which DKIM-signs), maillog and metrics. The webmail
// uses it so that mail sent from a browser is held to exactly the rules
// of mail sent from a mail app. The error is an *smtp.SMTPError when the
// session would have replied with one. ctx is not used beyond the
// server's own: a send, once the browser's request is in, completes.
func (s *Server) Submit(_ context.Context, acct store.Account, from string, rcpts []string, msg []byte) error {
	s.init()
	if s.Deliverer == nil {
		return fmt.Errorf("smtpd: Submit needs a Deliverer")
	}
	ss := &session{s: s, acct: &acct, id: fmt.Sprintf("w%x", s.connSeq.Add(1))}
	ss.log = s.log().With("conn", ss.id, "via", "webmail", "user", acct.Address)
	l := loggedSession{ss}
	if max := pick64(s.MaxMessageBytes, DefaultMaxMessageBytes); max > 0 && int64(len(msg)) > max {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	if len(rcpts) == 0 {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	if err := l.Mail(from, &smtp.MailOptions{UTF8: true, Size: int64(len(msg))}); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := l.Rcpt(r, &smtp.RcptOptions{}); err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
	}
	return l.Data(bytes.NewReader(msg))
}
