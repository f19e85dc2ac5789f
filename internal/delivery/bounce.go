package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"time"
)

// maxBouncedBody bounds how much of the original message a bounce quotes
// (RFC 3462 lets us return headers only; we add the start of the body).
const maxBouncedBody = 64 << 10

// canBounce reports whether a failure can be reported to env's sender: not
// for the null sender (RFC 5321 §6.1: never bounce a bounce), and only if
// the sender's address resolves somewhere we can deliver to.
func (d *Deliverer) canBounce(ctx context.Context, env *Envelope) bool {
	if env.From == "" || d.Resolver == nil {
		return false
	}
	res, err := d.Resolver.Resolve(ctx, env.From, d.Queue != nil)
	if err != nil {
		return false
	}
	return len(res.Local) > 0 || (len(res.Remote) > 0 && d.Queue != nil)
}

// bounce sends env's sender a delivery status notification (RFC 3464)
// listing the failed addresses, with a null reverse-path.
func (d *Deliverer) bounce(ctx context.Context, env *Envelope, failed []failure, orig []byte) error {
	res, err := d.Resolver.Resolve(ctx, env.From, d.Queue != nil)
	if err != nil {
		return err
	}
	msg := d.dsnMessage(env, failed, orig)
	benv := &Envelope{ID: env.ID + "-dsn", Protocol: "local", Helo: d.Hostname, Time: time.Now(),
		Rcpts: []Recipient{{Address: env.From, Resolution: res}}}
	if len(res.Local) > 0 {
		f, _, err := d.deliverLocal(ctx, res.Local, d.withTrace(benv, msg, true), false, false)
		if err != nil {
			return err
		}
		for _, x := range f {
			// The sender's own mailbox is full: nothing more we can do
			// without looping; the log keeps the trace.
			d.log().Warn("bounce not delivered", "id", env.ID, "to", x.addr, "err", x.err)
		}
	}
	if len(res.Remote) > 0 {
		return d.Queue.Enqueue(ctx, "", res.Remote, d.withTrace(benv, msg, false), DSN{})
	}
	return nil
}

// dsnMessage builds a multipart/report (RFC 6522) with a
// message/delivery-status part (RFC 3464 §2) and the original headers.
func (d *Deliverer) dsnMessage(env *Envelope, failed []failure, orig []byte) []byte {
	var rb [8]byte
	rand.Read(rb[:])
	boundary := "=_youju_" + hex.EncodeToString(rb[:])
	host := sanitize(d.Hostname, "localhost")
	now := time.Now().Format(time.RFC1123Z)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", sanitize(env.From, ""))
	// English first (what tools match), then Chinese (RFC 2047).
	b.WriteString("Subject: Undelivered Mail Returned to Sender " + mime.BEncoding.Encode("utf-8", "退信：邮件无法投递") + "\r\n")
	fmt.Fprintf(&b, "Date: %s\r\n", now)
	fmt.Fprintf(&b, "Message-ID: <%s.dsn@%s>\r\n", hex.EncodeToString(rb[:]), host)
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	b.WriteString("Your message could not be delivered to these recipients:\r\n")
	b.WriteString("您的邮件无法投递到下列收件人：\r\n\r\n")
	for _, f := range failed {
		fmt.Fprintf(&b, "  <%s>: %s\r\n", sanitize(f.addr, ""), f.err.Msg)
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", host)
	if env.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", sanitize(env.EnvID, ""))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", now)
	for _, f := range failed {
		e := f.err.Enhanced
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\n", sanitize(f.addr, ""))
		fmt.Fprintf(&b, "Status: %d.%d.%d\r\nDiagnostic-Code: smtp; %d %d.%d.%d %s\r\n",
			e[0], e[1], e[2], f.err.Code, e[0], e[1], e[2], f.err.Msg)
	}
	part, ctype := orig, "message/rfc822"
	if env.Ret != "FULL" || len(orig) > maxBouncedBody {
		// RFC 3461 §4.3: without RET=FULL, headers are enough.
		part, ctype = headerOf(orig), "text/rfc822-headers"
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: %s\r\n\r\n", boundary, ctype)
	b.Write(part)
	if !bytes.HasSuffix(part, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// headerOf returns the header section of a CRLF message.
func headerOf(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2]
	}
	if len(msg) > maxBouncedBody {
		return msg[:maxBouncedBody]
	}
	return msg
}
