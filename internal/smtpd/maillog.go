package smtpd

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/maillog"
)

// loggedSession writes the maillog "rejected" event for every MAIL, RCPT
// or DATA/BDAT that session refuses, from the reply the client gets (so
// also the 421 that ends a connection with too many errors). Wrapping
// keeps the logging out of the commands' own code.
type loggedSession struct{ *session }

func (l loggedSession) Mail(from string, opts *smtp.MailOptions) error {
	err := l.session.Mail(from, opts)
	l.rejected("MAIL", &from, []string{}, err)
	return err
}

func (l loggedSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	err := l.session.Rcpt(to, opts)
	l.rejected("RCPT", nil, []string{to}, err)
	return err
}

func (l loggedSession) Data(r io.Reader) error {
	err := l.session.Data(r)
	l.rejected("DATA", nil, nil, err)
	return err
}

// proto is the maillog name of this server's port.
func (ss *session) proto() string {
	if ss.s.Mode == Submission {
		return "submission"
	}
	return "smtp"
}

// msg describes the session's transaction for maillog. from overrides the
// transaction's sender (MAIL, which has none yet); to, if nil, is the
// recipients accepted so far.
func (ss *session) msg(from *string, to []string) maillog.Msg {
	m := maillog.Msg{Proto: ss.proto()}
	if ss.remote.IsValid() {
		m.Remote = ss.remote.String()
	}
	if a := ss.account(); a != nil {
		m.User = a.Address
	}
	ss.mu.Lock()
	env := ss.env
	if env != nil {
		m.ID, m.From = env.ID, env.From
		if to == nil {
			for _, r := range env.Rcpts {
				to = append(to, r.Address)
			}
		}
	}
	ss.mu.Unlock()
	if from != nil {
		m.From = *from
	}
	m.To = to
	return m
}

// rejected logs a refusal (4xx or 5xx) of cmd; nil and an abandoned BDAT
// transfer (no reply) are not refusals.
func (ss *session) rejected(cmd string, from *string, to []string, err error) {
	if err == nil || errors.Is(err, smtp.ErrDataReset) {
		return
	}
	r := maillog.Result{Code: 554, Text: err.Error()} // go-smtp's answer to a plain error
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r = maillog.Result{Code: se.Code, Text: se.Message}
		if e := se.EnhancedCode; e != smtp.NoEnhancedCode && e != (smtp.EnhancedCode{}) {
			r.Ext = fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
		}
	}
	maillog.Rejected(ss.msg(from, to), cmd, r)
}

// logReceived writes the maillog "received" event of an accepted message.
func (ss *session) logReceived(env *delivery.Envelope, size int) {
	m := ss.msg(&env.From, []string{})
	m.ID, m.Size = env.ID, int64(size)
	for _, r := range env.Rcpts {
		m.To = append(m.To, r.Address)
	}
	maillog.Received(m, env.Protocol)
}

// authFailed writes the maillog "auth_failed" event. The name tried stays
// inside the SASL exchange, so it is not known here.
func (ss *session) authFailed(err error) {
	maillog.AuthFailed(ss.proto(), ss.remote, "", "", err)
}
