package cli

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/maillog"
)

// mailEvent is one maillog line of the server's log, keys in order.
type mailEvent struct {
	keys []string
	val  map[string]string
	line string
}

var logPairRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// mailEvents parses the msg=mail lines of a text log.
func mailEvents(t *testing.T, log string) []mailEvent {
	t.Helper()
	var out []mailEvent
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, " msg=mail ") {
			continue
		}
		ev := mailEvent{val: map[string]string{}, line: line}
		for _, m := range logPairRE.FindAllStringSubmatch(line, -1) {
			v := m[2]
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("bad quoting in %s: %v", line, err)
				}
				v = u
			}
			ev.keys = append(ev.keys, m[1])
			ev.val[m[1]] = v
		}
		out = append(out, ev)
	}
	return out
}

// find returns the events whose keys have the given values.
func find(evs []mailEvent, kv ...string) []mailEvent {
	var out []mailEvent
next:
	for _, e := range evs {
		for i := 0; i+1 < len(kv); i += 2 {
			if e.val[kv[i]] != kv[i+1] {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// TestMailLogFollowsMessages runs the real server and follows, in its log,
// a message submitted to a local account (received, delivered), one
// submitted to another domain whose server refuses the recipient
// (received, queued, bounced, and the bounce delivered to the sender),
// refused commands (rejected) and failed logins on SMTP, IMAP and POP3
// (auth_failed).
func TestMailLogFollowsMessages(t *testing.T) {
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
	mustRun(t, "carolpw\n", "user", "add", "--data", dir, "--password-stdin", "carol@example.test")
	addrs, errs, _ := startServe(t, dir)

	// A failed AUTH, then the real one.
	dial := func() *smtp.Client {
		conn, err := tls.Dial("tcp", addrs["submissions"], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := smtp.NewClient(conn, "localhost")
		return sc
	}
	sc := dial()
	if err := sc.Auth(smtp.PlainAuth("", "bob@example.test", "wrong", "localhost")); err == nil {
		t.Fatal("wrong password accepted")
	}
	sc.Close()
	sc = dial()
	if err := sc.Auth(smtp.PlainAuth("", "bob@example.test", "bobpw", "localhost")); err != nil {
		t.Fatal(err)
	}
	submit := func(to []string, body string) error {
		if err := sc.Mail("bob@example.test"); err != nil {
			return err
		}
		for _, r := range to {
			if err := sc.Rcpt(r); err != nil {
				return err
			}
		}
		w, err := sc.Data()
		if err != nil {
			return err
		}
		fmt.Fprint(w, body)
		return w.Close()
	}
	if err := submit([]string{"carol@example.test"}, "From: bob@example.test\r\nSubject: local\r\n\r\nhi carol\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := submit([]string{"nobody@remote.test"}, "From: bob@example.test\r\nSubject: away\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	// Refused: an unknown local recipient at RCPT; a From: not bob's at DATA.
	if err := submit([]string{"ghost@example.test"}, ""); err == nil {
		t.Fatal("RCPT ghost@ accepted")
	}
	sc.Reset()
	if err := submit([]string{"carol@example.test"}, "From: carol@example.test\r\nSubject: forged\r\n\r\nx\r\n"); err == nil {
		t.Fatal("forged From: accepted")
	}
	sc.Quit()

	// Failed logins on IMAP (port 143, plaintext allowed on loopback) and POP3.
	plainDialog(t, addrs["imap"], "a LOGIN bob@example.test wrong\r\n", "a NO")
	// The name of a SASL login travels inside the exchange; the log still has it.
	plainDialog(t, addrs["imap"], "b AUTHENTICATE PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00carol@example.test\x00wrong"))+"\r\n", "b NO")
	plainDialog(t, addrs["pop3"], "USER carol@example.test\r\nPASS wrong\r\n", "-ERR")

	var evs []mailEvent
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs = mailEvents(t, errs.String())
		if len(find(evs, "event", "bounced")) > 0 && len(find(evs, "event", "delivered", "from", "<>", "to", "bob@example.test")) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bounce in the mail log:\n%s", errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, e := range evs {
		if testing.Verbose() {
			t.Log(e.line)
		}
		want := append([]string{"time", "level", "msg"}, maillog.Keys...)
		if got := strings.Join(e.keys, " "); !strings.HasPrefix(got, strings.Join(want, " ")) {
			t.Errorf("keys %s, want them to start with %v:\n%s", got, want, e.line)
		}
	}
	one := func(what string, kv ...string) mailEvent {
		t.Helper()
		got := find(evs, kv...)
		if len(got) != 1 {
			t.Fatalf("%s: %d lines with %v in:\n%s", what, len(got), kv, errs)
		}
		return got[0]
	}

	// Submission → local delivery: one id from receipt to the mailbox.
	rcv := one("local received", "event", "received", "to", "carol@example.test")
	id := rcv.val["id"]
	if id == "" || rcv.val["from"] != "bob@example.test" || rcv.val["proto"] != "submission" || rcv.val["user"] != "bob@example.test" ||
		rcv.val["remote"] != "127.0.0.1" || rcv.val["code"] != "250" || rcv.val["size"] == "0" || rcv.val["with"] != "ESMTPSA" {
		t.Errorf("received: %s", rcv.line)
	}
	one("local delivered", "event", "delivered", "id", id, "to", "carol@example.test", "proto", "local", "code", "250", "from", "bob@example.test")

	// Submission → remote domain → 550 → bounce, all under one id.
	rcv = one("remote received", "event", "received", "to", "nobody@remote.test")
	id = rcv.val["id"]
	q := one("queued", "event", "queued", "id", id, "to", "nobody@remote.test", "from", "bob@example.test")
	qid := q.val["qid"]
	if qid == "" {
		t.Fatalf("queued without qid: %s", q.line)
	}
	b := one("bounced", "event", "bounced", "id", id, "qid", qid, "to", "nobody@remote.test", "proto", "smtp", "code", "550 5.1.1")
	if b.val["relay"] == "" || b.val["text"] != "no such user" {
		t.Errorf("bounced: %s", b.line)
	}
	// The sender's bounce, delivered to bob's mailbox from the null
	// sender, is named after the message it reports on.
	one("bounce delivered", "event", "delivered", "id", id+".dsn", "from", "<>", "to", "bob@example.test", "proto", "local")

	// Refusals.
	one("RCPT refused", "event", "rejected", "cmd", "RCPT", "to", "ghost@example.test", "code", "550 5.1.1",
		"from", "bob@example.test", "proto", "submission", "remote", "127.0.0.1")
	one("DATA refused", "event", "rejected", "cmd", "DATA", "to", "carol@example.test", "proto", "submission")

	// Failed logins.
	one("SMTP auth", "event", "auth_failed", "proto", "submission", "user", "bob@example.test", "remote", "127.0.0.1", "text", "invalid credentials")
	one("IMAP auth", "event", "auth_failed", "proto", "imap", "user", "bob@example.test", "mech", "LOGIN", "text", "invalid credentials")
	one("IMAP SASL auth", "event", "auth_failed", "proto", "imap", "user", "carol@example.test", "mech", "PLAIN", "text", "invalid credentials")
	one("POP3 auth", "event", "auth_failed", "proto", "pop3", "user", "carol@example.test", "text", "invalid credentials")
}

// plainDialog reads the greeting, sends lines and waits for a reply line
// that starts with want.
func plainDialog(t *testing.T, addr, lines, want string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, lines)
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: waiting for %q: %v", addr, want, err)
		}
		if strings.HasPrefix(s, want) {
			return
		}
	}
}
