package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/dnsresolver"
	"github.com/youju/youju/internal/spam"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// spamServer is an MX server with the checks of c (its DNS a Fake in
// which 127.0.0.1 has a confirmed reverse name).
func (e *env) spamServer(c *spam.Checker) string {
	f := &dnsresolver.Fake{
		IP:   map[string][]net.IPAddr{"client.example": {{IP: net.IPv4(127, 0, 0, 1)}}},
		Addr: map[string][]string{"127.0.0.1": {"client.example."}},
	}
	if c.DNS == nil {
		c.DNS = f
	}
	s := e.server(Inbound)
	s.Spam = c
	return e.start(s, false)
}

func (e *env) junk(a store.Account) []string {
	e.t.Helper()
	mbs, err := e.st.Mailboxes(context.Background(), a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range mbs {
		if m.SpecialUse == store.SpecialJunk {
			return e.messages(a, m.ID)
		}
	}
	e.t.Fatal("no Junk mailbox")
	return nil
}

const spamTestMsg = "From: <a@sender.example>\r\nTo: <alice@example.com>\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"

func (r *raw) sendMail(final string) string {
	r.t.Helper()
	r.cmd("MAIL FROM:<a@sender.example>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.send(spamTestMsg)
	return r.expect(final)
}

func TestSpamDNSBLReject(t *testing.T) {
	e := newEnv(t)
	f := &dnsresolver.Fake{IP: map[string][]net.IPAddr{"1.0.0.127.bl.example": {{IP: net.IPv4(127, 0, 0, 2)}}}}
	addr := e.spamServer(&spam.Checker{DNS: f, Config: spam.Config{DNSBLs: []string{"ok.example", "bl.example"}, DNSBLReject: true}})
	r := dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	rep := r.cmd("MAIL FROM:<a@sender.example>", "554 5.7.1")
	if !strings.Contains(rep, "bl.example") {
		t.Errorf("reply does not name the list: %q", rep)
	}
	if n := len(e.inbox(e.alice)); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

func TestSpamDNSBLScored(t *testing.T) {
	e := newEnv(t)
	f := &dnsresolver.Fake{IP: map[string][]net.IPAddr{"1.0.0.127.bl.example": {{IP: net.IPv4(127, 0, 0, 2)}}}}
	addr := e.spamServer(&spam.Checker{DNS: f, Config: spam.Config{DNSBLs: []string{"bl.example"}}})
	r := dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.sendMail("250")
	got := e.junk(e.alice)
	if len(got) != 1 || !strings.Contains(got[0], "X-Youju-Spam: junk; score=6.0; DNSBL_bl.example(+6.0)") {
		t.Fatalf("Junk: %q", got)
	}
}

// TestSpamPregreet: a client that talks before the banner is caught,
// its commands still served (they go to Junk); a polite one is not.
func TestSpamPregreet(t *testing.T) {
	e := newEnv(t)
	addr := e.spamServer(&spam.Checker{Config: spam.Config{Pregreet: 300 * time.Millisecond, HELO: true, FCrDNS: true}})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	r.send("EHLO client.example\r\n") // before the 220
	r.expect("220")
	r.expect("250")
	r.sendMail("250")
	got := e.junk(e.alice)
	if len(got) != 1 || !strings.Contains(got[0], "X-Youju-Spam: junk; score=6.0; PREGREET(+6.0)") {
		t.Fatalf("Junk: %q", got)
	}

	r = dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.sendMail("250")
	in := e.inbox(e.alice)
	if len(in) != 1 || !strings.Contains(in[0], "X-Youju-Spam: ham; score=0.0") {
		t.Fatalf("INBOX: %q", in)
	}
}

// TestSpamReject: past the reject threshold the message is refused at
// DATA (550), never accepted and dropped.
func TestSpamReject(t *testing.T) {
	e := newEnv(t)
	addr := e.spamServer(&spam.Checker{Config: spam.Config{HELO: true, FCrDNS: true, JunkScore: 1, RejectScore: 2.5},
		Local: func(n string) bool { return n == "mx.example.com" }})
	r := dialRaw(t, addr)
	r.cmd("EHLO mx.example.com", "250") // our own name: +3
	r.sendMail("550 5.7.1")
	if n := len(e.inbox(e.alice)) + len(e.junk(e.alice)); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

// TestSpamHELOOncePerSession: the HELO check (which may ask the store
// whether the name is ours) runs once per EHLO name, and its score still
// counts for every message of the session.
func TestSpamHELOOncePerSession(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	addr := e.spamServer(&spam.Checker{Config: spam.Config{HELO: true, JunkScore: 1, RejectScore: 100},
		Local: func(n string) bool { calls.Add(1); return n == "mx.example.com" }})
	r := dialRaw(t, addr)
	r.cmd("EHLO mx.example.com", "250") // our own name: +3, Junk
	for range 3 {
		r.sendMail("250")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("HELO name looked up %d times for 3 messages, want 1", n)
	}
	r.cmd("EHLO client.example", "250") // RFC 5321 §4.1.4: another name, same session
	r.sendMail("250")
	if n := calls.Load(); n != 2 {
		t.Errorf("HELO name looked up %d times after a second EHLO, want 2", n)
	}
	if n, j := len(e.inbox(e.alice)), len(e.junk(e.alice)); n != 1 || j != 3 {
		t.Errorf("INBOX %d, Junk %d messages; want 1 (after the new EHLO) and 3", n, j)
	}
}

// TestSpamBayesTrained: a trained filter still scores each message (it
// is skipped only while it cannot classify).
func TestSpamBayesTrained(t *testing.T) {
	e := newEnv(t)
	f := &spam.Filter{}
	msg := []byte(strings.TrimSuffix(spamTestMsg, ".\r\n"))
	if err := f.Train(spam.Global, spam.Tokens(msg), true, false); err != nil {
		t.Fatal(err)
	}
	if err := f.Train(spam.Global, spam.Tokens([]byte("Subject: minutes\r\n\r\nthe meeting notes\r\n")), false, false); err != nil {
		t.Fatal(err)
	}
	addr := e.spamServer(&spam.Checker{Config: spam.Config{JunkScore: 1, RejectScore: 100}, Filter: f})
	r := dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.sendMail("250")
	if n, j := len(e.inbox(e.alice)), len(e.junk(e.alice)); n != 0 || j != 1 {
		t.Errorf("INBOX %d, Junk %d messages; want the message in Junk", n, j)
	}
}

func TestSpamGreylist(t *testing.T) {
	e := newEnv(t)
	g, err := spam.OpenGreylist("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g.Now = func() time.Time { return now }
	addr := e.spamServer(&spam.Checker{Greylist: g})
	r := dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.cmd("MAIL FROM:<a@sender.example>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "451 4.7.1")
	r.cmd("RCPT TO:<nobody@example.com>", "550") // unknown users are still refused as such
	r.cmd("QUIT", "221")

	now = now.Add(6 * time.Minute)
	r = dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.sendMail("250")
	if n := len(e.inbox(e.alice)); n != 1 {
		t.Fatalf("%d delivered after the retry", n)
	}
}

// fakeClamd answers INSTREAM: FOUND when the stream contains EICAR.
func fakeClamd(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				cmd := make([]byte, 10)
				io.ReadFull(c, cmd) // zINSTREAM\x00
				var body []byte
				for {
					var n [4]byte
					if _, err := io.ReadFull(c, n[:]); err != nil {
						return
					}
					size := int(n[0])<<24 | int(n[1])<<16 | int(n[2])<<8 | int(n[3])
					if size == 0 {
						break
					}
					chunk := make([]byte, size)
					if _, err := io.ReadFull(c, chunk); err != nil {
						return
					}
					body = append(body, chunk...)
				}
				if strings.Contains(string(body), "EICAR") {
					c.Write([]byte("stream: Eicar-Test-Signature FOUND\x00"))
				} else {
					c.Write([]byte("stream: OK\x00"))
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestSpamClamd(t *testing.T) {
	e := newEnv(t)
	addr := e.spamServer(&spam.Checker{Clamd: &spam.Clamd{Addr: fakeClamd(t)}})
	r := dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.cmd("MAIL FROM:<a@sender.example>", "250")
	r.cmd("RCPT TO:<alice@example.com>", "250")
	r.cmd("DATA", "354")
	r.send("Subject: x\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n.\r\n")
	if rep := r.expect("550 5.7.1"); !strings.Contains(rep, "Eicar-Test-Signature") {
		t.Errorf("reply: %q", rep)
	}
	r.sendMail("250") // a clean one passes
	if n := len(e.inbox(e.alice)); n != 1 {
		t.Fatalf("%d delivered", n)
	}
}

func TestSpamScannerDown(t *testing.T) {
	e := newEnv(t)
	addr := e.spamServer(&spam.Checker{Clamd: &spam.Clamd{Addr: "127.0.0.1:1"}, Config: spam.Config{ScannerTempfail: true}})
	r := dialRaw(t, addr)
	r.cmd("EHLO client.example", "250")
	r.sendMail("451 4.7.1")
	if n := len(e.inbox(e.alice)); n != 0 {
		t.Fatalf("%d delivered", n)
	}
}

// TestSendLimitSubmission: past its limit of new recipients an account
// gets 451 4.7.1 at DATA, nothing is queued; local mail still goes.
func TestSendLimitSubmission(t *testing.T) {
	e := newEnv(t)
	s := e.server(Submission)
	s.Spam = &spam.Checker{Send: &spam.SendLimits{NewRcptsHour: 3}}
	e.st.SetAlias(context.Background(), store.Alias{Address: "postmaster@example.com", Targets: []string{"bob@example.com"}})
	addr := e.start(s, false)
	c := dialSubmission(t, e, addr)
	wantCode(t, "auth", c.Auth(sasl.NewPlainClient("", "alice@example.com", password)), 235, smtp.EnhancedCode{})
	for i, want := range []int{250, 250, 250, 451} {
		wantCode(t, "mail", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
		wantCode(t, "rcpt", c.Rcpt(fmt.Sprintf("friend%d@remote.net", i), nil), 250, smtp.EnhancedCode{})
		err := send(t, c, msg("alice@example.com", "friend@remote.net", "hi"))
		if want == 250 {
			wantCode(t, "data", err, 250, smtp.EnhancedCode{})
		} else {
			wantCode(t, "data over the limit", err, 451, smtp.EnhancedCode{4, 7, 1})
		}
	}
	// A friend already written to is not new.
	wantCode(t, "mail", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("friend0@remote.net", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data known", send(t, c, msg("alice@example.com", "friend0@remote.net", "again")), 250, smtp.EnhancedCode{})
	c.Quit()
	if n := len(e.queue.List()); n != 4 {
		t.Fatalf("%d queued, want 4", n)
	}
	// The postmaster (an alias of bob here) is told, once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.inbox(e.bob)
		if len(got) == 1 && strings.Contains(got[0], "Subject: Sending limit reached by alice@example.com") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postmaster alert: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSpamVerdictLogged: each scored message has its "spam verdict" line
// (docs/spam.md), with the session's keys.
func TestSpamVerdictLogged(t *testing.T) {
	e := newEnv(t)
	var buf testutil.SyncBuffer
	f := &dnsresolver.Fake{IP: map[string][]net.IPAddr{"1.0.0.127.bl.example": {{IP: net.IPv4(127, 0, 0, 2)}}}}
	s := e.server(Inbound)
	s.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	s.Spam = &spam.Checker{DNS: f, Config: spam.Config{DNSBLs: []string{"bl.example"}}}
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO client.example", "250")
	r.sendMail("250")
	want := regexp.MustCompile(`level=INFO msg="spam verdict" conn=[0-9a-f]+ remote=127\.0\.0\.1 helo=client\.example tls=false verdict=junk score=6 reasons=DNSBL_bl\.example\(\+6\.0\)\n`)
	if !want.MatchString(buf.String()) {
		t.Errorf("no spam verdict line in:\n%s", buf.String())
	}
}
