package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// imapView returns what a client knows of INBOX: the UIDVALIDITY and the
// UID and flags of every message (UID FETCH 1:* FLAGS).
func imapView(t *testing.T, addr, user, pass string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "a LOGIN %q %q\r\nb SELECT INBOX\r\nc UID FETCH 1:* (FLAGS)\r\nd LOGOUT\r\n", user, pass)
	r := bufio.NewReader(conn)
	var view []string
	uv := regexp.MustCompile(`UIDVALIDITY \d+`)
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAP: %v (so far %q)", err, view)
		}
		if m := uv.FindString(s); m != "" {
			view = append(view, m)
		}
		if strings.Contains(s, " FETCH ") {
			view = append(view, strings.TrimSpace(s))
		}
		if strings.HasPrefix(s, "a NO") || strings.HasPrefix(s, "b NO") {
			t.Fatalf("IMAP: %q", s)
		}
		if strings.HasPrefix(s, "d OK") {
			return strings.Join(view, "\n")
		}
	}
}

// TestMigrateCommand: an installation with mail and a queued outbound
// message is migrated to PostgreSQL and verified; run again, it changes
// nothing; switched to PostgreSQL, the server shows an IMAP client the
// same UIDVALIDITY, UIDs and flags, and the queue holds the message.
func TestMigrateCommand(t *testing.T) {
	dsn := schemaDSN(t)
	dir := newData(t)
	ctx := context.Background()
	// Mail in the SQLite store, with an expunged one and flags.
	src, a := aliceWithMail(t, dir, 30)
	inbox, _ := src.Mailbox(ctx, a.ID, "INBOX")
	if _, err := src.Remove(ctx, a.ID, inbox.ID, store.UIDSet{{Lo: 5, Hi: 9}}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	addrs, _, stop := startServe(t, dir)
	before := imapView(t, addrs["imaps"], "alice@example.test", "alicepw")
	// While the server runs, migrate refuses (the store is in use).
	if code, _, errs := run(t, "", "migrate", "--data", dir, "--to", dsn); code == 0 || !strings.Contains(errs, "stop youju serve") {
		t.Errorf("migrate while serving: exit %d, %s", code, errs)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A message waiting in the queue directory, held (the test's DNS
	// knows no remote domain: tried, it would bounce into INBOX).
	q, err := queue.Open(queue.Options{Dir: outboundDir(dir), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, "alice@example.test", []string{"x@remote.test"}, []byte("Subject: out\r\n\r\nx\r\n"), delivery.DSN{}); err != nil {
		t.Fatal(err)
	}
	qid := mustOneID(t, q)
	if err := q.Hold(ctx, qid); err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "", "migrate", "--data", dir, "--to", dsn)
	if !strings.Contains(out, "1 queued outbound message(s) moved") || !strings.Contains(out, "Verified: 1 accounts") ||
		!strings.Contains(out, "25 messages") {
		t.Fatalf("migrate said:\n%s", out)
	}
	if out := mustRun(t, "", "migrate", "--data", dir, "--to", dsn); !strings.Contains(out, "0 queued") || !strings.Contains(out, "Verified") {
		t.Fatalf("second run said:\n%s", out)
	}

	cfg := filepath.Join(dir, "youju.toml")
	pgConfig(t, cfg, dsn)
	addrs, errs, _ := startServe(t, dir)
	after := imapView(t, addrs["imaps"], "alice@example.test", "alicepw")
	if after != before || !strings.Contains(after, "UID 30") {
		t.Errorf("IMAP view changed by the migration:\nbefore:\n%s\nafter:\n%s\n%s", before, after, errs)
	}
	if out := mustRun(t, "", "queue", "list", "--data", dir); !strings.Contains(out, qid) || !strings.Contains(out, "held") {
		t.Errorf("queued message not in the PostgreSQL queue:\n%s", out)
	}
}

// aliceWithMail adds alice@example.test (password alicepw) to dir and n
// messages to her INBOX in the SQLite store, flags varying; the store is
// left open for more.
func aliceWithMail(t *testing.T, dir string, n int) (*sqlite.Store, store.Account) {
	t.Helper()
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	ctx := context.Background()
	src, err := sqlite.Open(ctx, storeDir(dir), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := src.Account(ctx, "alice@example.test")
	var msgs []store.AppendMessage
	for i := range n {
		msgs = append(msgs, store.AppendMessage{Data: []byte(fmt.Sprintf("Subject: m%d\r\n\r\nhello %d\r\n", i, i)),
			Flags: store.Flags{System: store.SysFlags(i % 4)}})
	}
	if _, err := src.AppendMessages(ctx, a.ID, []store.Append{{Messages: msgs}}); err != nil {
		t.Fatal(err)
	}
	return src, a
}

func mustOneID(t *testing.T, q *queue.Queue) string {
	t.Helper()
	all, err := q.List()
	if err != nil || len(all) != 1 {
		t.Fatalf("queue: %v %v", all, err)
	}
	return all[0].ID
}
