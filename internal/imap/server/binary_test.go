package server

import (
	"strings"
	"testing"
)

// binaryMsg has one part of each kind BINARY must handle (RFC 3516 §4.2):
// quoted-printable with trailing white space and soft breaks, base64 of
// octets with NUL, a message/rfc822, a nested multipart, an unknown CTE.
const binaryMsg = "From: a@example.org\r\n" +
	"Subject: binary\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: Quoted-Printable\r\n" +
	"\r\n" +
	"caf=C3=A9 =  \r\n" +
	"au lait  \r\n" +
	"=3D=ZZ\t\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AGEAYgBj\r\n" + // "\x00a\x00b\x00c"
	"--b1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"aW5uZXI=\r\n" +
	"--b1\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b2\"\r\n" +
	"\r\n" +
	"--b2\r\n" +
	"\r\n" +
	"alt\r\n" +
	"--b2--\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: x-uuencode\r\n" +
	"\r\n" +
	"begin 644 x\r\n" +
	"--b1--\r\n"

func TestBinaryFetch(t *testing.T) {
	ts := startServer(t, nil)
	ts.deliver(t, "INBOX", binaryMsg, 0)
	c := ts.login(t)
	c.ok("SELECT INBOX")

	// A leaf is decoded: QP loses trailing white space and soft breaks,
	// keeps "=ZZ" (RFC 2045 §6.7).
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[1]"), "* 1 FETCH (BINARY[1] {19}\r\ncafé au lait\r\n==ZZ)")
	mustContain(t, c.ok("FETCH 1 BINARY.SIZE[1]"), "* 1 FETCH (BINARY.SIZE[1] 19)")
	// Decoded NULs go as literal8, never in a plain literal.
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[2]"), "* 1 FETCH (BINARY[2] ~{6}\r\n\x00a\x00b\x00c)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[2]<1.3>"), "* 1 FETCH (BINARY[2]<1> ~{3}\r\na\x00b)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[2]<3.100>"), "* 1 FETCH (BINARY[2]<3> ~{3}\r\nb\x00c)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[2]<1.1>"), "* 1 FETCH (BINARY[2]<1> {1}\r\na)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[1]<50.10>"), "* 1 FETCH (BINARY[1]<50> {0}\r\n)")
	mustContain(t, c.ok("FETCH 1 BINARY.SIZE[2]"), "* 1 FETCH (BINARY.SIZE[2] 6)")

	// Composite parts and the whole message are returned as stored.
	inner := "Subject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\naW5uZXI="
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[3]"), "* 1 FETCH (BINARY[3] {"+itoa(uint64(len(inner)))+"}\r\n"+inner+")")
	mustContain(t, c.ok("FETCH 1 BINARY.SIZE[3]"), "* 1 FETCH (BINARY.SIZE[3] "+itoa(uint64(len(inner)))+")")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[3.1]"), "* 1 FETCH (BINARY[3.1] {5}\r\ninner)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[4]"), "* 1 FETCH (BINARY[4] {19}\r\n--b2\r\n\r\nalt\r\n--b2--)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[]"), "* 1 FETCH (BINARY[] {"+itoa(uint64(len(binaryMsg)))+"}\r\n"+binaryMsg+")")
	mustContain(t, c.ok("FETCH 1 BINARY.SIZE[]"), "* 1 FETCH (BINARY.SIZE[] "+itoa(uint64(len(binaryMsg)))+")")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[]<5.10>"), "* 1 FETCH (BINARY[]<5> {10}\r\n"+binaryMsg[5:15]+")")

	// Only a leaf with an unknown CTE fails, before anything is written.
	for _, cmd := range []string{"FETCH 1 BINARY.PEEK[5]", "FETCH 1 (UID FLAGS BINARY.SIZE[5])", "FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[5])"} {
		if u, done := c.do(cmd); !strings.HasPrefix(done, "NO [UNKNOWN-CTE]") || len(u) != 0 {
			t.Fatalf("%s: %s %q", cmd, done, u)
		}
	}
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[5]"), "* 1 FETCH (BODY[5] {11}\r\nbegin 644 x)")

	// BINARY without .PEEK sets \Seen (RFC 3516 §4.2, as BODY[]).
	mustContain(t, c.ok("FETCH 1 BINARY[2]<0.1>"), "* 1 FETCH (BINARY[2]<0> ~{1}\r\n\x00 FLAGS (\\Recent \\Seen))")
}

// TestBodyWithNUL: stored NULs reach a BINARY fetch as literal8 and a
// BODY fetch, which cannot use literal8, as 0x80 (as Dovecot does); a
// plain literal never carries NUL (RFC 3501 §9).
func TestBodyWithNUL(t *testing.T) {
	ts := startServer(t, nil)
	msg := "Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\x00\r\n"
	ts.deliver(t, "INBOX", msg, 0)
	c := ts.login(t)
	c.ok("EXAMINE INBOX")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[1]"), "* 1 FETCH (BINARY[1] ~{6}\r\na\x00b\x00\r\n)")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[]"), "* 1 FETCH (BINARY[] ~{"+itoa(uint64(len(msg)))+"}\r\n"+msg+")")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[]<14.100>"), "* 1 FETCH (BINARY[]<14> ~{"+itoa(uint64(len(msg)-14))+"}\r\n"+msg[14:]+")")
	mustContain(t, c.ok("FETCH 1 BINARY.PEEK[]<0.14>"), "* 1 FETCH (BINARY[]<0> {14}\r\nSubject: nul\r\n)")
	subst := strings.ReplaceAll(msg, "\x00", "\x80")
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[]"), "* 1 FETCH (BODY[] {"+itoa(uint64(len(msg)))+"}\r\n"+subst+")")
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[1]"), "* 1 FETCH (BODY[1] {6}\r\na\x80b\x80\r\n)")
	mustContain(t, c.ok("FETCH 1 RFC822.TEXT"), "* 1 FETCH (RFC822.TEXT {6}\r\na\x80b\x80\r\n)")
	mustContain(t, c.ok("FETCH 1 RFC822.SIZE"), "* 1 FETCH (RFC822.SIZE "+itoa(uint64(len(msg)))+")")
}
