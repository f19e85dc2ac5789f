package cli

import (
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
)

type e2eSink struct {
	mu   sync.Mutex
	msgs []string
}

type e2eSess struct{ s *e2eSink }

func (x *e2eSess) Reset()                                 {}
func (x *e2eSess) Logout() error                          { return nil }
func (x *e2eSess) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *e2eSess) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}
func (x *e2eSess) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, string(b))
	x.s.mu.Unlock()
	return nil
}

// TestOutboundE2E sends through submission to a remote domain pinned to a
// local sink: the message arrives DKIM-signed with both keys, and the
// recipient the sink refuses is bounced into the sender's INBOX.
func TestOutboundE2E(t *testing.T) {
	sink := &e2eSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &e2eSess{sink}, nil }))
	srv.Domain = "sink"
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	dir := newData(t)
	f, _ := os.OpenFile(filepath.Join(dir, "youju.toml"), os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "\n[[outbound.transport]]\ndomain = \"remote.test\"\nnext = %q\ntls = \"none\"\n", l.Addr().String())
	f.Close()
	mustRun(t, "bobpw\n", "user", "add", "--data", dir, "--password-stdin", "bob@example.test")
	addrs, errs, _ := startServe(t, dir)
	conn, err := tls.Dial("tcp", addrs["submissions"], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := smtp.NewClient(conn, "localhost")
	if err := sc.Auth(smtp.PlainAuth("", "bob@example.test", "bobpw", "localhost")); err != nil {
		t.Fatal(err)
	}
	if err := sc.Mail("bob@example.test"); err != nil {
		t.Fatal(err)
	}
	// Both are accepted at RCPT: the remote verdict comes later, and the
	// 550 for nobody@ must come back to bob as a bounce.
	for _, rcpt := range []string{"friend@remote.test", "nobody@remote.test"} {
		if err := sc.Rcpt(rcpt); err != nil {
			t.Fatalf("RCPT %s: %v", rcpt, err)
		}
	}
	w, _ := sc.Data()
	fmt.Fprint(w, "From: bob@example.test\r\nTo: friend@remote.test\r\nSubject: out\r\n\r\nhello world\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sc.Quit()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sink.mu.Lock()
		n := len(sink.msgs)
		sink.mu.Unlock()
		subj := pop3Subjects(t, addrs["pop3s"], "bob@example.test", "bobpw")
		if n == 1 && len(subj) >= 1 && strings.HasPrefix(subj[0], "Undelivered Mail Returned to Sender") {
			t.Logf("bounce subject: %q", subj)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink %d, bob has %v\n%s", n, subj, errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := sink.msgs[0]
	if strings.Count(m, "DKIM-Signature:") != 2 {
		t.Errorf("not signed twice:\n%s", m)
	}
	if !strings.Contains(m, "hello world") || !strings.Contains(m, "Subject: out") {
		t.Errorf("sink got:\n%s", m)
	}
	out := mustRun(t, "", "queue", "list", "--data", dir)
	if strings.Contains(out, "friend@remote.test") || strings.Contains(out, "nobody@remote.test") {
		t.Errorf("the queue still holds the message:\n%s", out)
	}
}
