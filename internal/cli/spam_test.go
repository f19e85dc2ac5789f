package cli

import (
	"crypto/tls"
	"fmt"
	"net/smtp"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestSpamLearnedFromIMAPMove is the learning filter end to end through
// serve: alice has sent some mail (ham), a spam reaches her INBOX, she
// moves it to Junk with a real IMAP client (python3 imaplib); the next
// similar spam lands in Junk, and her colleague's next ordinary mail
// still in INBOX.
func TestSpamLearnedFromIMAPMove(t *testing.T) {
	py := testutil.NeedCommand(t, "python3", "python3")
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, _, _ := startServe(t, dir)

	sent := []string{"Meeting notes: we agreed to ship the parser after the review on Monday.",
		"Can we move the budget meeting to Tuesday afternoon? The room is booked.",
		"I fixed the build and added a regression test for the report."}
	for i, body := range sent {
		submit(t, addrs["submissions"], fmt.Sprintf("Subject: notes %d\r\n\r\n%s\r\n", i, body))
	}
	spamBody := "Congratulations winner! Claim your free prize of $50,000 now at http://win-prize.example/claim, limited offer, act now!"
	mx(t, addrs["smtp"], "Subject: You have WON\r\n\r\n"+spamBody+"\r\n")

	junkByIMAP(t, py, addrs["imap"], "WON")
	// The training runs after the MOVE's reply, in the background: wait
	// for its effect, a message at a time.
	waitForJunk(t, py, addrs["smtp"], addrs["imap"], "Subject: You have WON again\r\n\r\n"+spamBody+"\r\n", "again")
	mx(t, addrs["smtp"], "Subject: review\r\n\r\nCan we move the review of the parser to Monday afternoon?\r\n")
	if n := countIn(t, py, addrs["imap"], "INBOX", "review"); n != 1 {
		t.Fatalf("ordinary mail: %d in INBOX", n)
	}
}

// junkByIMAP moves alice's one INBOX message whose subject has word
// into Junk, as a user does, with a real client (python3's imaplib).
func junkByIMAP(t *testing.T, py, addr, word string) {
	t.Helper()
	script := `
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login("alice@example.test", "alicepw")
c.select("INBOX")
typ, data = c.uid("SEARCH", None, "SUBJECT", sys.argv[2])
uids = data[0].split()
assert len(uids) == 1, data
typ, data = c.uid("MOVE", uids[0], "Junk")
assert typ == "OK", (typ, data)
c.logout()
`
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	if out, err := exec.Command(py, "-c", script, port, word).CombinedOutput(); err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// waitForJunk delivers msg to alice through the MX port at smtpAddr, a
// message at a time, until one (its subject has word) is in her Junk as
// seen over IMAP at imapAddr: the training it waits for runs in the
// background. It fails after 20 seconds.
func waitForJunk(t *testing.T, py, smtpAddr, imapAddr, msg, word string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mx(t, smtpAddr, msg)
		if countIn(t, py, imapAddr, "Junk", word) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the next similar spam never landed in Junk")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func submit(t *testing.T, addr, msg string) {
	t.Helper()
	if err := trySubmit(t, addr, msg); err != nil {
		t.Fatal(err)
	}
}

func mx(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(t, c, "someone@remote.test", "alice@example.test", "From: someone@remote.test\r\nTo: alice@example.test\r\n"+msg)
}

func send(t *testing.T, c *smtp.Client, from, to, msg string) {
	t.Helper()
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
}

// countIn counts the messages of a mailbox whose subject has word.
func countIn(t *testing.T, py, addr, mbox, word string) int {
	t.Helper()
	script := `
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login("alice@example.test", "alicepw")
c.select(sys.argv[2])
typ, data = c.uid("SEARCH", None, "SUBJECT", sys.argv[3])
print(len(data[0].split()))
c.logout()
`
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	out, err := exec.Command(py, "-c", script, port, mbox, word).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// TestUserSetSendLimit: an account's own limit, set with the CLI while
// the server runs, holds on submission (451 past it).
func TestUserSetSendLimit(t *testing.T) {
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, _, _ := startServe(t, dir)
	out := mustRun(t, "", "user", "set", "--data", dir, "--send-limit", "1/5", "alice@example.test")
	if !strings.Contains(out, "send limit: 1/hour, 5/day") {
		t.Fatalf("user set: %q", out)
	}
	submit(t, addrs["submissions"], "Subject: one\r\n\r\nfirst\r\n")
	conn, err := tls.Dial("tcp", addrs["submissions"], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(smtp.PlainAuth("", "alice@example.test", "alicepw", "localhost")); err != nil {
		t.Fatal(err)
	}
	c.Mail("alice@example.test")
	c.Rcpt("bob@elsewhere.test")
	w, _ := c.Data()
	fmt.Fprint(w, "From: alice@example.test\r\nSubject: two\r\n\r\nsecond\r\n")
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "451") || !strings.Contains(err.Error(), "messages per hour") {
		t.Fatalf("second message: %v", err)
	}
}
