package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/testutil"
	"github.com/youju/youju/internal/testutil/fixture"
)

// TestTwoNodesShareState is issue 13's proof for the state that used to
// live in each node's data directory: two real `youju serve` processes
// on one PostgreSQL schema, and
//   - a triplet greylisted by node A passes its retry on node B;
//   - a Sieve script uploaded over node A's ManageSieve runs at a
//     delivery on node B;
//   - the send limit counts what the account sent through A and B;
//   - a spam moved to Junk through node A's IMAP makes the next similar
//     one land in Junk when node B receives it.
func TestTwoNodesShareState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds youju and runs two nodes")
	}
	py := testutil.NeedCommand(t, "python3", "python3")
	dsn := pgSchemaDSN(t)
	bin, err := buildYouju()
	if err != nil {
		t.Fatal(err)
	}
	pgAccount(t, dsn, "alice@example.test", "alicepw")
	settings := [][2]string{
		{`# greylist = false`, `greylist = true`},
		{`# greylist_delay = "5m"`, `greylist_delay = "1s"`},
		{`# send_messages_hour = 200`, `send_messages_hour = 2`},
		{`# allow_plaintext_loopback = false`, `allow_plaintext_loopback = true`}, // ManageSieve's PLAIN without TLS
	}
	// Offsets spread wide: other tests on the machine take ports too.
	base := 20000 + mrand.IntN(190)*200
	a, b := startNode(t, bin, dsn, base, settings...), startNode(t, bin, dsn, base+100, settings...)

	t.Run("greylist", func(t *testing.T) {
		if code := rcptCode(t, a.addrs["smtp"]); code != 451 {
			t.Fatalf("first attempt on node A: %d, want 451 (greylisted)", code)
		}
		time.Sleep(1100 * time.Millisecond) // greylist_delay
		if code := rcptCode(t, b.addrs["smtp"]); code != 250 {
			t.Fatalf("retry on node B after the delay: %d, want 250", code)
		}
	})

	t.Run("sieve", func(t *testing.T) {
		script := `require ["fileinto", "mailbox"]; if header :contains "subject" "invoice" { fileinto :create "Invoices"; }`
		manageSievePut(t, a.addrs["managesieve"], "alice@example.test", "alicepw", "rules", script)
		mx(t, b.addrs["smtp"], "Subject: your invoice\r\n\r\nhello\r\n")
		if s := imapMailboxStatus(t, b.addrs["imaps"], "alice@example.test", "alicepw", "Invoices"); !strings.Contains(s, "MESSAGES 1") {
			t.Fatalf("Invoices after a delivery on node B: %q", s)
		}
	})

	t.Run("send limit", func(t *testing.T) {
		submit(t, a.addrs["submissions"], "Subject: notes 1\r\n\r\nMeeting notes: we agreed to ship the parser after the review.\r\n")
		submit(t, b.addrs["submissions"], "Subject: notes 2\r\n\r\nCan we move the budget meeting to Tuesday afternoon?\r\n")
		err := trySubmit(t, a.addrs["submissions"], "Subject: three\r\n\r\nthird\r\n")
		if err == nil || !strings.Contains(err.Error(), "451") || !strings.Contains(err.Error(), "messages per hour") {
			t.Fatalf("third message in the hour, through node A after one each through A and B: %v", err)
		}
	})

	t.Run("learning filter", func(t *testing.T) {
		spamBody := "Congratulations winner! Claim your free prize of $50,000 now at http://win-prize.example/claim, limited offer, act now!"
		mx(t, a.addrs["smtp"], "Subject: You have WON\r\n\r\n"+spamBody+"\r\n")
		junkByIMAP(t, py, a.addrs["imap"], "WON")
		// Node A trains after the MOVE's reply, in the background: the
		// next similar spam, received by node B, lands in Junk.
		waitForJunk(t, py, b.addrs["smtp"], b.addrs["imap"], "Subject: You have WON again\r\n\r\n"+spamBody+"\r\n", "again")
	})
}

// pgAccount opens the store of dsn (closed at the end of the test) and
// creates its domain example.test and the account addr with password
// pw, allowed IMAP and SMTP.
func pgAccount(t *testing.T, dsn, addr, pw string) (*postgres.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount(ctx, store.Account{Address: addr, PasswordHash: fixture.PasswordHash(pw), AllowIMAP: true, AllowSMTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return st, a
}

// rcptCode is the reply code to RCPT TO alice from someone@remote.test
// on the MX port at addr.
func rcptCode(t *testing.T, addr string) int {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("someone@remote.test"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("alice@example.test")
	var pe *textproto.Error
	switch {
	case err == nil:
		return 250
	case errors.As(err, &pe):
		return pe.Code
	}
	t.Fatalf("RCPT: %v", err)
	return 0
}

// trySubmit submits msg as alice to a remote address and returns the
// error of the DATA step, if any.
func trySubmit(t *testing.T, addr, msg string) error {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
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
	if err := c.Mail("alice@example.test"); err != nil {
		return err
	}
	if err := c.Rcpt("bob@elsewhere.test"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprint(w, "From: alice@example.test\r\nTo: bob@elsewhere.test\r\n"+msg)
	return w.Close()
}

// TestImportLeaseTwoNodes: the settings page's import jobs of two nodes
// (two stores on one PostgreSQL schema) hold "one running import per
// account" between them, and node B shows the progress and the end of
// node A's job.
func TestImportLeaseTwoNodes(t *testing.T) {
	dsn := pgSchemaDSN(t)
	ctx := context.Background()
	first, acct := pgAccount(t, dsn, "alice@example.test", "alicepw")
	second, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	nodes := [2]*postgres.Store{first, second}
	// A remote that accepts and says nothing until the end: a job
	// against it runs until the test lets it fail.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-hold; c.Close() }()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	ended := make(chan struct{}, 2)
	jobs := func(s *postgres.Store) *importer.Jobs {
		return &importer.Jobs{DataDir: t.TempDir(), Target: importer.Local{Mail: s}, Security: importer.IMAPPlain, Retries: 1,
			Backoff: time.Millisecond, Leases: s, State: s, Notify: func(context.Context, store.AccountID, string, string) { ended <- struct{}{} }}
	}
	ja, jb := jobs(nodes[0]), jobs(nodes[1])
	if err := ja.Start(acct.ID, acct.Address, "127.0.0.1", port, "old@qq.com", "x"); err != nil {
		t.Fatal(err)
	}
	if err := jb.Start(acct.ID, acct.Address, "127.0.0.1", port, "old@qq.com", "x"); !errors.Is(err, importer.ErrJobRunning) {
		t.Fatalf("a second import on node B while node A's runs: %v", err)
	}
	if st, ok := jb.Status(acct.ID); !ok || st.State != "running" || st.Account != acct.Address || st.User != "old@qq.com" {
		t.Fatalf("node A's job seen from node B: %+v, %v", st, ok)
	}
	close(hold)
	l.Close()
	select {
	case <-ended:
	case <-time.After(2 * time.Minute):
		t.Fatal("node A's job did not end")
	}
	if st, ok := jb.Status(acct.ID); !ok || st.State != "failed" || st.Error == "" || st.Finished.IsZero() {
		t.Fatalf("node A's ended job seen from node B: %+v, %v", st, ok)
	}
	// Its lease is released as the job returns: node B may start one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := jb.Start(acct.ID, acct.Address, "127.0.0.1", 1, "old@qq.com", "x")
		if err == nil {
			break
		}
		if !errors.Is(err, importer.ErrJobRunning) || time.Now().After(deadline) {
			t.Fatalf("node B after node A's job: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-ended
}
