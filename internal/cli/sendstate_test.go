package cli

import (
	"crypto/tls"
	"fmt"
	"net/smtp"
	"strings"
	"testing"
)

// TestSendLimitSurvivesRestart: what an account sent before a restart
// still counts after it (DATA/spam/sendstate.log), so restarting the
// server gives a stolen password no fresh allowance.
func TestSendLimitSurvivesRestart(t *testing.T) {
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	mustRun(t, "", "user", "set", "--data", dir, "--send-limit", "1/5", "alice@example.test")
	addrs, _, stop := startServe(t, dir)
	submit(t, addrs["submissions"], "Subject: one\r\n\r\nfirst\r\n")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	addrs, _, _ = startServe(t, dir)
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
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("second message after the restart: %v (the count was lost)", err)
	}
}
