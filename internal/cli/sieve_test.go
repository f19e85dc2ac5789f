package cli

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// TestServeSieve runs the real wiring: a script uploaded over ManageSieve
// is applied to mail received on the MX port.
func TestServeSieve(t *testing.T) {
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, _, _ := startServe(t, dir)
	if addrs["managesieve"] == "" {
		t.Fatalf("managesieve not started: %v", addrs)
	}
	script := `require ["fileinto", "mailbox"]; if header :contains "subject" "invoice" { fileinto :create "Invoices"; }`
	manageSievePut(t, addrs["managesieve"], "alice@example.test", "alicepw", "rules", script)

	mx, err := smtp.Dial(addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	if err := mx.Mail("sender@remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := mx.Rcpt("alice@example.test"); err != nil {
		t.Fatal(err)
	}
	w, _ := mx.Data()
	fmt.Fprint(w, "From: sender@remote.test\r\nSubject: your invoice\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mx.Quit()
	if st := imapMailboxStatus(t, addrs["imaps"], "alice@example.test", "alicepw", "Invoices"); !strings.Contains(st, "MESSAGES 1") {
		t.Errorf("Invoices: %q", st)
	}
	if st := imapStatus(t, addrs["imaps"], "alice@example.test", "alicepw"); !strings.Contains(st, "MESSAGES 0") {
		t.Errorf("INBOX: %q", st)
	}
}

// imapMailboxStatus returns the STATUS line of a mailbox.
func imapMailboxStatus(t *testing.T, addr, user, pass, mbox string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "a LOGIN %q %q\r\nb STATUS %q (MESSAGES)\r\nc LOGOUT\r\n", user, pass, mbox)
	r := bufio.NewReader(conn)
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAP: %v", err)
		}
		if strings.HasPrefix(s, "* STATUS") {
			return s
		}
		if strings.HasPrefix(s, "b ") {
			return s
		}
	}
}

// manageSievePut uploads script as name over ManageSieve (RFC 5804,
// SASL PLAIN on the loopback) and makes it the active one.
func manageSievePut(t *testing.T, addr, user, pass, name, script string) {
	t.Helper()
	cmd := manageSieveLogin(t, addr, user, pass)
	for _, line := range []string{fmt.Sprintf("PUTSCRIPT %q {%d+}\r\n%s", name, len(script), script), fmt.Sprintf("SETACTIVE %q", name), "LOGOUT"} {
		if rep := cmd(line); !strings.HasPrefix(rep, "OK") {
			t.Fatalf("ManageSieve %q: %q", line, rep)
		}
	}
}

// manageSieveLogin connects to ManageSieve at addr and signs in (SASL
// PLAIN on the loopback); cmd sends a line and returns the whole answer
// up to its OK, NO or BYE.
func manageSieveLogin(t *testing.T, addr, user, pass string) (cmd func(line string) string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	cmd = func(line string) string {
		if line != "" {
			fmt.Fprintf(conn, "%s\r\n", line)
		}
		var all []string
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("ManageSieve %q: %v", line, err)
			}
			all = append(all, s)
			if strings.HasPrefix(s, "OK") || strings.HasPrefix(s, "NO") || strings.HasPrefix(s, "BYE") {
				return strings.Join(all, "")
			}
		}
	}
	cmd("")
	if rep := cmd(`AUTHENTICATE "PLAIN" "` + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + `"`); !strings.HasPrefix(rep, "OK") {
		t.Fatalf("ManageSieve AUTHENTICATE: %q", rep)
	}
	return cmd
}
