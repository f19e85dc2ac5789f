package pop3

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// sqliteFixture opens a real store with alice (POP3 options opts) and
// delivers msgs to her INBOX.
func sqliteFixture(t testing.TB, opts store.POP3Options, msgs []string) (*sqlite.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a := newAccount("alice@example.org", opts)
	a.PasswordHash = passwordHash(t)
	if a, err = st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		deliver(t, st, a.ID, m)
	}
	return st, a
}

func deliver(t testing.TB, st store.Store, acct store.AccountID, msg string) store.UID {
	t.Helper()
	res, err := st.Deliver(context.Background(), store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: acct}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0].UID
}

// TestSQLiteExpungeSeenByIMAP: DELE then QUIT removes the messages in one
// store operation, and a session watching the mailbox the way IMAP does
// (notifier event, then Changes) learns of the expunge.
func TestSQLiteExpungeSeenByIMAP(t *testing.T) {
	ctx := context.Background()
	st, a := sqliteFixture(t, store.POP3Options{}, testMsgs)
	inbox, err := st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := st.Notifier().Subscribe(a.ID)
	defer cancel()
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.login("alice@example.org")
	c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
	c.do("UIDL 1", fmt.Sprintf("+OK 1 %08x%08x", inbox.UIDValidity, 1))
	c.do("RETR 2", fmt.Sprintf("+OK %d octets", len(testMsgs[1])))
	if got := strings.Join(c.multi(), "\r\n") + "\r\n"; got != testMsgs[1] {
		t.Fatalf("RETR 2 = %q", got)
	}
	c.do("DELE 1", "+OK*")
	c.do("DELE 3", "+OK*")
	c.do("QUIT", "+OK Bye, 2 message(s) deleted")
	c.expectClosed()

	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no notifier event after POP3 expunge")
	}
	ch, err := st.Changes(ctx, a.ID, inbox.ID, inbox.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Vanished.Contains(1) || !ch.Vanished.Contains(3) || ch.Vanished.Contains(2) {
		t.Fatalf("Vanished = %v, want 1 and 3", ch.Vanished)
	}
	var left []store.Message
	st.ListMessages(ctx, a.ID, inbox.ID, store.ListOptions{}, func(m *store.Message) error {
		left = append(left, *m)
		return nil
	})
	if len(left) != 1 || left[0].UID != 2 || left[0].Flags.System&store.FlagSeen == 0 {
		t.Fatalf("left after QUIT: %+v", left)
	}
}

// TestSQLiteUIDLStable: a message keeps its UIDL across sessions and
// deliveries; new mail gets new ones; RSET undoes DELE.
func TestSQLiteUIDLStable(t *testing.T) {
	st, a := sqliteFixture(t, store.POP3Options{}, testMsgs)
	ts := startServer(t, st, nil)
	uidls := func() []string {
		c := dial(t, ts.addr)
		c.login("alice")
		c.do("UIDL", "+OK*")
		l := c.multi()
		c.do("DELE 1", "+OK*")
		c.do("RSET", "+OK*")
		c.do("QUIT", "+OK Bye, 0 message(s) deleted")
		c.expectClosed()
		return l
	}
	first := uidls()
	deliver(t, st, a.ID, "Subject: four\r\n\r\n4\r\n")
	second := uidls()
	if len(first) != 3 || len(second) != 4 || strings.Join(second[:3], "|") != strings.Join(first, "|") {
		t.Fatalf("UIDLs changed: %q then %q", first, second)
	}
	seen := map[string]bool{}
	for _, l := range second {
		_, id, _ := strings.Cut(l, " ")
		if seen[id] || len(id) < 1 || len(id) > 70 {
			t.Fatalf("bad or duplicate UIDL %q", id)
		}
		seen[id] = true
	}
}

// TestSQLiteSnapshotAndDeleteActions: mail arriving mid-session stays out
// of the snapshot; "trash" moves to \Trash; "hide" keeps the mail for IMAP.
func TestSQLiteSnapshotAndDeleteActions(t *testing.T) {
	ctx := context.Background()
	for _, action := range []store.POP3Delete{store.POP3DeleteTrash, store.POP3DeleteHide} {
		t.Run(string(action), func(t *testing.T) {
			st, a := sqliteFixture(t, store.POP3Options{Delete: action}, testMsgs)
			ts := startServer(t, st, nil)
			c := dial(t, ts.addr)
			c.login("alice")
			deliver(t, st, a.ID, "Subject: late\r\n\r\nlate\r\n")
			c.do("STAT", fmt.Sprintf("+OK 3 %d", totalSize()))
			c.do("DELE 2", "+OK*")
			c.do("QUIT", "+OK Bye, 1 message(s) deleted")
			c.expectClosed()
			c = dial(t, ts.addr)
			c.login("alice")
			c.do("STAT", "+OK 3*")
			c.do("QUIT", "+OK*")
			inbox, _ := st.Mailbox(ctx, a.ID, "INBOX")
			trash, _ := st.Mailbox(ctx, a.ID, "Trash")
			want := map[store.POP3Delete][2]int{store.POP3DeleteTrash: {3, 1}, store.POP3DeleteHide: {4, 0}}[action]
			if inbox.Messages != want[0] || trash.Messages != want[1] {
				t.Fatalf("INBOX %d, Trash %d; want %v", inbox.Messages, trash.Messages, want)
			}
		})
	}
}

// TestSQLiteLargeMessage streams a message larger than every buffer, with
// a line longer than the read buffer and dot lines, and gets it back
// byte for byte; LIST's size is what RETR sends before stuffing.
func TestSQLiteLargeMessage(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: large\r\n\r\n")
	b.WriteString(strings.Repeat("L", 70<<10) + "\r\n")
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, ".line %d\r\n", i)
	}
	msg := b.String()
	st, _ := sqliteFixture(t, store.POP3Options{}, []string{msg})
	ts := startServer(t, st, nil)
	c := dial(t, ts.addr)
	c.login("alice")
	c.do("LIST 1", fmt.Sprintf("+OK 1 %d", len(msg)))
	c.do("RETR 1", fmt.Sprintf("+OK %d octets", len(msg)))
	if got := strings.Join(c.multi(), "\r\n") + "\r\n"; got != msg {
		t.Fatalf("RETR differs: got %d octets, want %d", len(got), len(msg))
	}
	c.do("TOP 1 2", "+OK*")
	if got := c.multi(); len(got) != 4 || got[2] != strings.Repeat("L", 70<<10) || got[3] != ".line 0" {
		t.Fatalf("TOP 1 2: %d lines", len(got))
	}
}
