package smtpd

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/message"
)

// foldedHeader is a header field folded n times, the attack that cost
// go-msgauth's DKIM header reader quadratic time.
func foldedHeader(n int) string {
	return "X-Fold: a\r\n" + strings.Repeat(" a\r\n", n)
}

// padding is other header fields of more than size bytes, in lines that
// go-smtp's line limit lets through.
func padding(size int) string {
	line := "X-Pad: " + strings.Repeat("p", 990) + "\r\n"
	return strings.Repeat(line, size/len(line)+1)
}

// TestHeaderBoundsInbound: on the MX port, with mail authentication on,
// a header section folded 40,000 times, or larger than the limit, is
// refused permanently before any header work, and the session goes on.
func TestHeaderBoundsInbound(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.Auth = nil
	s.DNS = &dnsresolver.Fake{}
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO client.test", "250")
	send := func(hdr string) string {
		r.cmd("MAIL FROM:<someone@remote.test>", "250")
		r.cmd("RCPT TO:<alice@example.com>", "250")
		r.cmd("DATA", "354")
		r.send("From: <someone@remote.test>\r\n" + hdr + "Subject: x\r\n\r\nbody\r\n.\r\n")
		return r.reply()
	}
	if got := send(foldedHeader(40000)); !strings.HasPrefix(got, "554 5.6.0") {
		t.Fatalf("header folded 40,000 times: %q, want 554 5.6.0", got)
	}
	if got := send(padding(message.DefaultMaxHeaderBytes)); !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("header larger than the limit: %q, want 552 5.3.4", got)
	}
	// Below the limits: delivered.
	if got := send(foldedHeader(500) + padding(100<<10)); !strings.HasPrefix(got, "250") {
		t.Fatalf("ordinary large header: %q", got)
	}
	if n := len(e.inbox(e.alice)); n != 1 {
		t.Fatalf("INBOX holds %d messages, want 1", n)
	}
}

// TestSubmissionFromBypass: the "From must be yours" check reads the
// header as the store does. Each of these was accepted before and stored
// with someone else's From.
func TestSubmissionFromBypass(t *testing.T) {
	e := newEnv(t)
	addr := e.start(e.server(Submission), false)
	c := dialSubmission(t, e, addr)
	wantCode(t, "auth", c.Auth(sasl.NewPlainClient("", "alice@example.com", password)), 235, smtp.EnhancedCode{})
	try := func(what, hdr string, code int, ec smtp.EnhancedCode) {
		t.Helper()
		wantCode(t, what+": mail", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
		wantCode(t, what+": rcpt", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
		wantCode(t, what, send(t, c, hdr+"Subject: "+what+"\r\n\r\nbody\r\n"), code, ec)
	}
	// Her From, then 256 KiB of other fields, then bob's From.
	try("From past the limit", "From: <alice@example.com>\r\n"+padding(256<<10)+"From: <bob@example.com>\r\n",
		552, smtp.EnhancedCode{5, 3, 4})
	// A blank before the colon: the store reads it as From.
	try("From with blank before colon", "From : <bob@example.com>\r\nFrom: <alice@example.com>\r\n",
		554, smtp.EnhancedCode{5, 6, 0})
	try("From with blank before colon, alone", "From\t: <bob@example.com>\r\n",
		554, smtp.EnhancedCode{5, 6, 0})
	// Two From fields, both hers: still not a valid message (RFC 5322 §3.6).
	try("two From fields", "From: <alice@example.com>\r\nFrom: <alice@example.com>\r\n",
		554, smtp.EnhancedCode{5, 6, 0})
	// A field name with a control character, and a line without colon.
	try("bad field name", "From: <alice@example.com>\r\nX\x01Bad: y\r\n",
		554, smtp.EnhancedCode{5, 6, 0})
	try("line without colon", "From: <alice@example.com>\r\nnot a field\r\n",
		554, smtp.EnhancedCode{5, 6, 0})
	// A bare CR ends a line for the store (message.NormalizeCRLF).
	try("From after a bare CR", "X-A: a\rFrom: <bob@example.com>\r\nFrom: <alice@example.com>\r\n",
		554, smtp.EnhancedCode{5, 6, 0})
	// Still fine: her own From, folded.
	try("own From", "From:\r\n <alice@example.com>\r\n", 250, smtp.EnhancedCode{})
	c.Quit()
	got := e.inbox(e.bob)
	if len(got) != 1 || !strings.Contains(got[0], "Subject: own From") {
		t.Fatalf("bob's INBOX: %d messages %q", len(got), got)
	}
}
