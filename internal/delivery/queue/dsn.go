package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/maillog"
)

// maxReturnedFull is the largest message a DSN returns whole (RET=FULL);
// bigger ones, and RET=HDRS or no RET, return the header only (RFC 3461
// §4.3 lets the MTA choose when RET is absent).
const maxReturnedFull = 1 << 20

// notify sends the sender a DSN (action "failed" or "delayed") for rcpts.
// Never for the null reverse-path (RFC 5321 §6.1, RFC 3461 §6.2: a DSN is
// never sent about a DSN), nor for recipients whose NOTIFY excludes it.
func (q *Queue) notify(ctx context.Context, st *State, action string, rcpts []*Rcpt, b *Body) {
	if st.From == "" {
		return
	}
	want := "FAILURE"
	if action == "delayed" {
		want = "DELAY"
	}
	var list []*Rcpt
	for _, r := range rcpts {
		if len(r.Notify) == 0 || slices.ContainsFunc(r.Notify, func(n string) bool { return strings.EqualFold(n, want) }) {
			list = append(list, r)
		}
	}
	if len(list) == 0 {
		return
	}
	data, err := b.prefix(maxReturnedFull + 1)
	if err != nil {
		q.log().Error("queue: reading message for DSN", "id", st.ID, "err", err)
	}
	msg := q.dsnMessage(st, action, list, data)
	ctx = maillog.WithID(ctx, dsnID(st)) // the DSN's own events name the message it reports on
	mDSNs.With(action).Inc()
	if q.opt.LocalDeliver != nil && q.opt.IsLocalDomain != nil && q.opt.IsLocalDomain(domainOf(st.From)) {
		err = q.opt.LocalDeliver(ctx, "", []string{st.From}, msg)
	} else {
		err = q.Enqueue(context.WithoutCancel(ctx), "", []string{st.From}, msg, delivery.DSN{})
	}
	if err != nil {
		// The sender's own mailbox refused it, or the disk failed: nothing
		// more to do without looping; the log keeps the trace.
		q.log().Error("queue: DSN not delivered", "id", st.ID, "to", st.From, "action", action, "err", err)
	}
}

// dsnMessage builds a multipart/report (RFC 6522) with a human-readable
// part, a message/delivery-status part (RFC 3464 §2) and the returned
// message or its header.
func (q *Queue) dsnMessage(st *State, action string, rcpts []*Rcpt, data []byte) []byte {
	var rb [8]byte
	rand.Read(rb[:])
	boundary := "=_dsn_" + hex.EncodeToString(rb[:])
	now := q.opt.Now()
	host := q.opt.Hostname
	var b bytes.Buffer
	// English first (what tools and other servers match), then the
	// Chinese for the person, as an RFC 2047 encoded-word.
	subject := "Undelivered Mail Returned to Sender " + mime.BEncoding.Encode("utf-8", "退信：邮件无法投递")
	if action == "delayed" {
		subject = "Delayed Mail (still being retried) " + mime.BEncoding.Encode("utf-8", "邮件延迟：仍在重试")
	}
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", clean(st.From))
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.%s.dsn@%s>\r\n", st.ID, hex.EncodeToString(rb[:4]), host)
	// RFC 3834 §5: an automatic reply; auto-responders must not answer it.
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated delivery status notification.\r\n")

	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	if action == "delayed" {
		until := st.Created.Add(q.opt.Lifetime)
		fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\nYour message could not be delivered yet to the addresses below.\r\nIt will be retried until %s; you need not send it again.\r\n\r\n",
			host, until.Format(time.RFC1123Z))
		fmt.Fprintf(&b, "这是 %s 的邮件系统。\r\n\r\n您的邮件暂时未能投递到下列地址。\r\n系统会继续重试，直到 %s；您无需重新发送。\r\n\r\n",
			host, until.Format("2006-01-02 15:04 MST"))
	} else {
		fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\nYour message could not be delivered to the addresses below.\r\n\r\n", host)
		fmt.Fprintf(&b, "这是 %s 的邮件系统。\r\n\r\n您的邮件无法投递到下列地址（已退回）。\r\n\r\n", host)
	}
	for _, r := range rcpts {
		fmt.Fprintf(&b, "<%s>: %s\r\n", clean(r.Addr), clean(diagnostic(r)))
	}

	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	q.writeStatusFields(&b, st, action, rcpts, now)

	hdr := headerOf(data)
	if st.Ret == "FULL" && len(data) <= maxReturnedFull {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(data)
		if !bytes.HasSuffix(data, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	} else {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(hdr)
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// writeStatusFields writes the per-message and per-recipient fields of a
// message/delivery-status body (RFC 3464 §2.2, §2.3).
func (q *Queue) writeStatusFields(b *bytes.Buffer, st *State, action string, rcpts []*Rcpt, now time.Time) {
	fmt.Fprintf(b, "Reporting-MTA: dns; %s\r\n", q.opt.Hostname)
	if st.EnvID != "" {
		fmt.Fprintf(b, "Original-Envelope-Id: %s\r\n", clean(st.EnvID))
	}
	fmt.Fprintf(b, "Arrival-Date: %s\r\n", st.Created.Format(time.RFC1123Z))
	for _, r := range rcpts {
		fmt.Fprintf(b, "\r\nFinal-Recipient: rfc822; %s\r\n", clean(r.Addr))
		if r.ORcpt != "" {
			t, a, _ := strings.Cut(r.ORcpt, ";")
			fmt.Fprintf(b, "Original-Recipient: %s; %s\r\n", clean(t), clean(a))
		}
		fmt.Fprintf(b, "Action: %s\r\nStatus: %s\r\n", action, status(r, action))
		if r.RemoteMTA != "" {
			h, _, _ := strings.Cut(r.RemoteMTA, " ")
			fmt.Fprintf(b, "Remote-MTA: dns; %s\r\n", clean(h))
		}
		if r.Code > 0 {
			fmt.Fprintf(b, "Diagnostic-Code: smtp; %s\r\n", clean(diagnostic(r)))
		}
		fmt.Fprintf(b, "Last-Attempt-Date: %s\r\n", now.Format(time.RFC1123Z))
		if action == "delayed" {
			fmt.Fprintf(b, "Will-Retry-Until: %s\r\n", st.Created.Add(q.opt.Lifetime).Format(time.RFC1123Z))
		}
	}
}

// status is the RFC 3463 code of a recipient: the server's enhanced code,
// else one derived from the reply class.
func status(r *Rcpt, action string) string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	if r.Code/100 == 5 || (action == "failed" && r.Code == 0) {
		return "5.0.0"
	}
	return "4.0.0"
}

func diagnostic(r *Rcpt) string {
	if r.Code > 0 {
		s := fmt.Sprintf("%d", r.Code)
		if r.Enhanced != "" {
			s += " " + r.Enhanced
		}
		return s + " " + r.Diag
	}
	return r.Diag
}

// clean makes s safe inside one header line: no CR, LF or other controls.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 900 {
		s = s[:900]
	}
	return s
}

// headerOf returns the header section of msg, including the blank line.
func headerOf(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+4]
	}
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return msg[:2]
	}
	return append(append([]byte{}, msg...), "\r\n\r\n"...)
}
