package cli

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/dnsresolver"
)

// envSink is an SMTP sink that keeps each message with its envelope.
type envSink struct {
	mu   sync.Mutex
	msgs []sunk
}

type sunk struct {
	from  string
	rcpts []string
	data  string
}

type envSess struct {
	s   *envSink
	cur sunk
}

func (x *envSess) Reset()                                     { x.cur = sunk{} }
func (x *envSess) Logout() error                              { return nil }
func (x *envSess) Mail(f string, _ *gosmtp.MailOptions) error { x.cur.from = f; return nil }
func (x *envSess) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	x.cur.rcpts = append(x.cur.rcpts, to)
	return nil
}
func (x *envSess) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	x.cur.data = string(b)
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, x.cur)
	x.s.mu.Unlock()
	return nil
}

func (s *envSink) wait(t *testing.T, n int) []sunk {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		got := append([]sunk(nil), s.msgs...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d messages, want %d", len(got), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mxSend runs one transaction on the MX port; it returns the error of
// the first step that failed ("" when the message was accepted).
func mxSend(t *testing.T, addr, from, to, msg string) string {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.sender.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		return "MAIL: " + err.Error()
	}
	if err := c.Rcpt(to); err != nil {
		return "RCPT: " + err.Error()
	}
	w, err := c.Data()
	if err != nil {
		return "DATA: " + err.Error()
	}
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		return "DATA: " + err.Error()
	}
	c.Quit()
	return ""
}

// imapCount returns the EXISTS count of a mailbox, over IMAPS.
func imapCount(t *testing.T, addr, user, pass, mailbox string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	fmt.Fprintf(conn, "a LOGIN %s %s\r\nb SELECT %s\r\n", user, pass, mailbox)
	exists := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(strings.TrimSpace(line), "EXISTS") {
			exists = strings.Fields(line)[1]
		}
		if strings.HasPrefix(line, "b ") {
			return exists
		}
	}
}

// TestPostmasterAndSRS: postmaster@ and abuse@ of every domain reach the
// first account, even mail failing DMARC p=reject (into Junk); an alias
// forwarding to another domain rewrites the envelope sender with SRS and
// leaves the message alone; a bounce to the SRS address goes back to the
// original sender; a forged SRS address is refused at RCPT.
func TestPostmasterAndSRS(t *testing.T) {
	sink := &envSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &envSess{s: sink}, nil }))
	srv.Domain = "sink"
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	dir := newData(t)
	f, _ := os.OpenFile(filepath.Join(dir, "youju.toml"), os.O_APPEND|os.O_WRONLY, 0)
	for _, d := range []string{"remote.test", "origin.test"} {
		fmt.Fprintf(f, "\n[[outbound.transport]]\ndomain = %q\nnext = %q\ntls = \"none\"\n", d, l.Addr().String())
	}
	f.Close()
	out := mustRun(t, "adminpw\n", "user", "add", "--data", dir, "--password-stdin", "admin@example.test")
	if !strings.Contains(out, "receives postmaster@ and abuse@") {
		t.Errorf("user add does not say the first account is postmaster:\n%s", out)
	}
	mustRun(t, "bobpw\n", "user", "add", "--data", dir, "--password-stdin", "bob@example.test")
	if out := mustRun(t, "", "postmaster", "--data", dir); !strings.Contains(out, "admin@example.test") {
		t.Errorf("postmaster shows:\n%s", out)
	}
	mustRun(t, "", "domain", "add", "--data", dir, "other.test")
	mustRun(t, "", "alias", "add", "--data", dir, "fwd@example.test", "friend@remote.test")

	dns := &dnsresolver.Fake{TXT: map[string][]string{
		"evil.test": {"v=spf1 -all"}, "_dmarc.evil.test": {"v=DMARC1; p=reject"},
	}}
	addrs, errs, _ := startServeDNS(t, dir, dns, nil)
	mx := addrs["smtp"]

	// DMARC p=reject: refused for an account, accepted for postmaster@
	// and abuse@ of any domain, into the administrator's Junk.
	bad := "From: x@evil.test\r\nTo: postmaster@other.test\r\nSubject: report\r\n\r\nspam?\r\n"
	if e := mxSend(t, mx, "x@evil.test", "bob@example.test", bad); !strings.Contains(e, "550") {
		t.Fatalf("DMARC reject to an account: %q", e)
	}
	for _, to := range []string{"postmaster@other.test", "Abuse@example.test", "POSTMASTER@example.test"} {
		if e := mxSend(t, mx, "x@evil.test", to, bad); e != "" {
			t.Fatalf("%s refused: %s\n%s", to, e, errs)
		}
	}
	if n := imapCount(t, addrs["imaps"], "admin@example.test", "adminpw", "Junk"); n != "3" {
		t.Errorf("admin's Junk has %s messages, want 3", n)
	}
	good := "From: y@origin.test\r\nTo: abuse@other.test\r\nSubject: hello postmaster\r\n\r\nhi\r\n"
	if e := mxSend(t, mx, "y@origin.test", "abuse@other.test", good); e != "" {
		t.Fatal(e)
	}
	if subj := pop3Subjects(t, addrs["pop3s"], "admin@example.test", "adminpw"); len(subj) != 1 || subj[0] != "hello postmaster" {
		t.Errorf("admin's INBOX: %q", subj)
	}
	if e := mxSend(t, mx, "y@origin.test", "nobody@other.test", good); !strings.Contains(e, "RCPT: 550") {
		t.Errorf("unknown user of a domain: %q", e)
	}

	// Changing the postmaster takes effect at once.
	mustRun(t, "", "postmaster", "--data", dir, "bob@example.test")
	if e := mxSend(t, mx, "y@origin.test", "postmaster@other.test", good); e != "" {
		t.Fatal(e)
	}
	if subj := pop3Subjects(t, addrs["pop3s"], "bob@example.test", "bobpw"); len(subj) != 1 {
		t.Errorf("bob's INBOX after becoming postmaster: %q", subj)
	}

	// SRS forwarding: envelope rewritten, message unchanged.
	fwd := "From: carol@origin.test\r\nTo: fwd@example.test\r\nSubject: forwarded\r\nDKIM-Signature: v=1; d=origin.test; b=AAAA\r\n\r\nbody stays\r\n"
	if e := mxSend(t, mx, "carol@origin.test", "fwd@example.test", fwd); e != "" {
		t.Fatal(e)
	}
	got := sink.wait(t, 1)[0]
	if !strings.HasPrefix(got.from, "SRS0=") || !strings.HasSuffix(got.from, "=origin.test=carol@example.test") {
		t.Fatalf("forwarded with envelope sender %q", got.from)
	}
	if len(got.rcpts) != 1 || got.rcpts[0] != "friend@remote.test" {
		t.Errorf("forwarded to %v", got.rcpts)
	}
	if !strings.HasSuffix(got.data, fwd) {
		t.Errorf("the forwarded message was changed:\n%s", got.data)
	}

	// The bounce comes back to the SRS address and goes on to carol.
	bounce := "From: MAILER-DAEMON@remote.test\r\nTo: " + got.from + "\r\nSubject: Undelivered\r\n\r\nfailed\r\n"
	if e := mxSend(t, mx, "", got.from, bounce); e != "" {
		t.Fatalf("bounce to the SRS address refused: %s", e)
	}
	back := sink.wait(t, 2)[1]
	if back.from != "" || len(back.rcpts) != 1 || back.rcpts[0] != "carol@origin.test" {
		t.Errorf("bounce forwarded as from %q to %v", back.from, back.rcpts)
	}

	// Forged and tampered SRS addresses are refused at RCPT.
	tampered := strings.Replace(got.from, "=carol@", "=dave@", 1)
	for _, rcpt := range []string{tampered, "SRS0=AAAAAAAA=AA=origin.test=carol@example.test"} {
		if e := mxSend(t, mx, "", rcpt, bounce); !strings.Contains(e, "RCPT: 550") {
			t.Errorf("RCPT %s: %q, want 550", rcpt, e)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "srs.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("srs.key: %v %v", fi, err)
	}
}
