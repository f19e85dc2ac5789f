package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSmuggling: only <CRLF>.<CRLF> ends DATA (RFC 5321 §4.1.1.4). A bare
// LF or CR around the dot must not end the message, or a second message
// hidden in the first could be injected with our server's authority
// (the 2023 "SMTP smuggling" attacks).
func TestSmuggling(t *testing.T) {
	for _, end := range []string{"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r"} {
		t.Run(fmt.Sprintf("%q", end), func(t *testing.T) {
			e := newEnv(t)
			r := dialRaw(t, e.start(e.server(Inbound), false))
			r.cmd("EHLO client.test", "250")
			r.cmd("MAIL FROM:<x@remote.net>", "250")
			r.cmd("RCPT TO:<alice@example.com>", "250")
			r.cmd("DATA", "354")
			r.send("Subject: first\r\n\r\nbody" + end +
				"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")
			r.expect("250")
			r.cmd("QUIT", "221")
			if n := len(e.inbox(e.bob)); n != 0 {
				t.Fatalf("smuggled message delivered to bob")
			}
			in := e.inbox(e.alice)
			if len(in) != 1 || !strings.Contains(in[0], "Subject: smuggled") {
				t.Fatalf("alice: %q", in)
			}
			// Stored form: every line ends in CRLF (bare LF normalised).
			if strings.Contains(strings.ReplaceAll(in[0], "\r\n", ""), "\n") {
				t.Fatalf("bare LF stored: %q", in[0])
			}
		})
	}
}

// TestSTARTTLSPipelineDiscarded: commands sent before the TLS handshake
// must not run inside the TLS session (RFC 3207 §4.2, CVE-2011-0411).
func TestSTARTTLSPipelineDiscarded(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.start(e.server(Inbound), false))
	r.cmd("EHLO client.test", "250")
	r.send("STARTTLS\r\nMAIL FROM:<injected@remote.net>\r\nRCPT TO:<alice@example.com>\r\n")
	r.expect("220")
	if r.r.Buffered() != 0 {
		t.Fatalf("server answered the injected commands before TLS")
	}
	tc := tls.Client(r.c, e.cTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := &raw{t: t, c: tc, r: bufio.NewReader(tc)}
	// The first reply under TLS is for our EHLO, not for an injected command.
	tr.cmd("EHLO client.test", "250-")
	tr.cmd("RCPT TO:<alice@example.com>", "502") // no MAIL in this session
}

func TestBDAT(t *testing.T) {
	e := newEnv(t)
	r := dialRaw(t, e.start(e.server(Inbound), false))
	r.cmd("EHLO client.test", "250")
	body1 := "Subject: chunked\r\n\r\nfirst chunk with a lone dot line\r\n.\r\n"
	body2 := "second chunk\n"
	// Pipelined, as RFC 3030 §4.2 allows.
	r.send("MAIL FROM:<x@remote.net> BODY=8BITMIME\r\nRCPT TO:<alice@example.com>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%s", len(body1), body1) + fmt.Sprintf("BDAT %d LAST\r\n%s", len(body2), body2))
	for _, want := range []string{"250", "250", "250", "250"} {
		r.expect(want)
	}
	in := e.inbox(e.alice)
	if len(in) != 1 || !strings.HasSuffix(in[0], "\r\n\r\nfirst chunk with a lone dot line\r\n.\r\nsecond chunk\r\n") {
		t.Fatalf("alice: %q", in)
	}
}

func TestDSNParametersQueued(t *testing.T) {
	e := newEnv(t)
	s := e.server(Submission)
	s.AllowPlaintextLoopback = true
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO c", "250")
	// A PLAIN message without its NUL separators ("alice") is a failed
	// authentication (RFC 4954 §6), not a temporary failure.
	r.cmd("AUTH PLAIN YWxpY2U=", "535 5.7.8")
	r.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU=", "235")
	r.cmd("MAIL FROM:<alice@example.com> RET=HDRS ENVID=abc+2B1", "250")
	r.cmd("RCPT TO:<far@remote.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;far@remote.net", "250")
	r.cmd("DATA", "354")
	r.send("From: alice@example.com\r\n\r\nx\r\n.\r\n")
	r.expect("250")
	q := e.queue.List()
	if len(q) != 1 {
		t.Fatalf("queue: %+v", q)
	}
	d := q[0].DSN
	if d.Ret != "HDRS" || d.EnvID != "abc+1" || len(d.Rcpts) != 1 || strings.Join(d.Rcpts[0].Notify, ",") != "FAILURE,DELAY" || d.Rcpts[0].ORcpt != "RFC822;far@remote.net" {
		t.Fatalf("dsn %+v", d)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.MaxPerIP = 2
	s.MaxMessageBytes = 1000
	s.MaxRecipients = 2
	s.MaxLineLength = 200
	addr := e.start(s, false)
	r1, r2 := dialRaw(t, addr), dialRaw(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("third connection: %q", line)
	}
	r1.cmd("EHLO c", "250")
	if rep := r1.cmd("MAIL FROM:<x@remote.net> SIZE=5000", "552"); !strings.Contains(rep, "5.3.4") {
		t.Fatal(rep)
	}
	r1.cmd("MAIL FROM:<x@remote.net>", "250")
	r1.cmd("RCPT TO:<alice@example.com>", "250")
	r1.cmd("RCPT TO:<bob@example.com>", "250")
	r1.cmd("RCPT TO:<alice+2@example.com>", "452 4.5.3")
	r1.cmd("DATA", "354")
	r1.send(strings.Repeat(strings.Repeat("x", 70)+"\r\n", 20) + ".\r\n")
	r1.expect("552 5.3.4")
	if n := len(e.inbox(e.alice)); n != 0 {
		t.Fatal("oversized message stored")
	}
	r2.cmd("EHLO c", "250")
	r2.send("NOOP " + strings.Repeat("y", 300) + "\r\n")
	r2.expect("500")
	if !r2.closed() {
		t.Fatal("connection with an over-long line not closed")
	}
	// r2's slot is free again: the server releases it just after closing
	// the connection, so a client that dials at once may still meet 421.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "220") {
			break
		}
		if !strings.HasPrefix(line, "421 4.7.0") || time.Now().After(deadline) {
			t.Fatalf("after r2 closed: %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTooManyErrors(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.MaxErrors = 5
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO c", "250")
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	for i := 0; i < 4; i++ {
		r.cmd(fmt.Sprintf("RCPT TO:<guess%d@example.com>", i), "550 5.1.1")
	}
	r.cmd("RCPT TO:<guess9@example.com>", "421 4.7.0")
	if !r.closed() {
		t.Fatal("connection not dropped after too many errors")
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.ReadTimeout = 200 * time.Millisecond
	r := dialRaw(t, e.start(s, false))
	r.expect("421 4.4.2")
	if !r.closed() {
		t.Fatal("idle connection not closed")
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	inData := make(chan struct{}, 1)
	s.onData = func() { inData <- struct{}{} }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	idle := dialRaw(t, l.Addr().String())
	idle.cmd("EHLO c", "250")
	busy := dialRaw(t, l.Addr().String())
	busy.cmd("EHLO c", "250")
	busy.cmd("MAIL FROM:<x@remote.net>", "250")
	busy.cmd("RCPT TO:<alice@example.com>", "250")
	busy.cmd("DATA", "354")
	busy.send("Subject: in flight\r\n\r\n")
	select { // the server counts the transaction as in DATA
	case <-inData:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not enter DATA")
	}

	sd := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sd <- s.Shutdown(ctx)
	}()
	if !idle.closed() {
		t.Fatal("idle connection survived shutdown")
	}
	// The transfer in progress completes and is acknowledged.
	busy.send("the end\r\n.\r\n")
	busy.expect("250")
	if err := <-sd; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if n := len(e.inbox(e.alice)); n != 1 {
		t.Fatalf("in-flight message: %d stored", n)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l2); err != ErrServerClosed {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestDataTimeoutAndMaxConnections(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.DataTimeout = 300 * time.Millisecond
	s.MaxConnections = 1
	addr := e.start(s, false)
	r := dialRaw(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("connection over MaxConnections: %q", line)
	}
	r.cmd("EHLO c", "250")
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.send("Subject: slow\r\n") // and then nothing
	r.expect("421 4.4.2")
	if !r.closed() {
		t.Fatal("connection kept after a DATA timeout")
	}
	if n := len(e.inbox(e.alice)); n != 0 {
		t.Fatal("incomplete message stored")
	}
}

// TestBDATAbandoned: RSET in the middle of a BDAT transfer aborts it
// (RFC 3030 §3: the chunks so far are discarded) and the session goes on.
//
// go-smtp v0.25.1 has a data race here that we cannot fix from outside:
// the goroutine of an abandoned BDAT transfer reads Conn.dataResult after
// our Data returned, while the next BDAT replaces it. session.Reset waits
// for Data to return, which closes the window in practice (the next
// transaction needs network round trips first), but the race detector
// still sees unsynchronised accesses, so this test runs without -race.
func TestBDATAbandoned(t *testing.T) {
	if raceEnabled {
		t.Skip("go-smtp v0.25.1 races on Conn.dataResult after an abandoned BDAT; see comment")
	}
	e := newEnv(t)
	r := dialRaw(t, e.start(e.server(Inbound), false))
	r.cmd("EHLO c", "250")
	for i := 0; i < 3; i++ {
		r.cmd("MAIL FROM:<x@remote.net>", "250")
		r.cmd("RCPT TO:<alice@example.com>", "250")
		r.send("BDAT 6\r\nSubjec")
		r.expect("250")
		r.cmd("RSET", "250")
	}
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.send("BDAT 12 LAST\r\nSubject: ok\n")
	r.expect("250")
	if in := e.inbox(e.alice); len(in) != 1 || !strings.HasSuffix(in[0], "Subject: ok\r\n") {
		t.Fatalf("alice: %q", in)
	}
}

// TestInFlightBudget: past the server-wide budget, DATA is refused for now
// (the data is still consumed, so the session stays in sync).
func TestInFlightBudget(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.MaxInFlightBytes = 1000
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO c", "250")
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.send(strings.Repeat(strings.Repeat("z", 70)+"\r\n", 30) + ".\r\n")
	r.expect("452 4.3.1")
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.send("Subject: small\r\n\r\nok\r\n.\r\n")
	r.expect("250")
	if n := len(e.inbox(e.alice)); n != 1 {
		t.Fatalf("alice has %d", n)
	}
}

// TestBareEOLStoredAsCRLF: a message with bare LF and bare CR line ends,
// sent with DATA or with BDAT, is stored in CRLF form (RFC 5322 §2.1:
// a lone CR or LF is not a line end; the store counts sizes and offsets
// in CRLF form). Delivery tells the store the bytes are CRLF already
// (store.Delivery.CRLF), so this holds only if smtpd really made them so.
func TestBareEOLStoredAsCRLF(t *testing.T) {
	const msg = "Subject: bare\nX-A: one\rX-B: two\r\n\nline1\nline2\rline3\r\n\r\rend\n"
	for _, bdat := range []bool{false, true} {
		t.Run(fmt.Sprintf("bdat=%v", bdat), func(t *testing.T) {
			e := newEnv(t)
			r := dialRaw(t, e.start(e.server(Inbound), false))
			r.cmd("EHLO client.test", "250")
			r.cmd("MAIL FROM:<x@remote.net>", "250")
			r.cmd("RCPT TO:<alice@example.com>", "250")
			if bdat {
				r.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
			} else {
				r.cmd("DATA", "354")
				r.send(msg + "\r\n.\r\n")
			}
			r.expect("250")
			in := e.inbox(e.alice)
			if len(in) != 1 {
				t.Fatalf("%d messages", len(in))
			}
			got := in[0]
			if rest := strings.ReplaceAll(got, "\r\n", ""); strings.ContainsAny(rest, "\r\n") {
				t.Fatalf("bare CR or LF stored: %q", got)
			}
			want := "Subject: bare\r\nX-A: one\r\nX-B: two\r\n\r\nline1\r\nline2\r\nline3\r\n\r\n\r\nend\r\n"
			if !bdat {
				want += "\r\n" // the CRLF before the ending dot is the message's
			}
			if !strings.HasSuffix(got, want) {
				t.Fatalf("stored %q, want it to end with %q", got, want)
			}
		})
	}
}
