package cli

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/testutil"
)

// mailboxCounts opens the store of dir (serve must not run) and returns
// the number of messages of each mailbox of addr.
func mailboxCounts(t *testing.T, dir, addr string) map[string]int {
	t.Helper()
	ctx := context.Background()
	c, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, dir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Account(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := st.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, b := range boxes {
		out[b.Name] = b.Messages
	}
	return out
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportMaildirAndMbox imports a Dovecot Maildir++ tree and an mbox
// with the store opened by the command, then runs it again (nothing is
// copied twice).
func TestImportMaildirAndMbox(t *testing.T) {
	dir := newData(t)
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	md := t.TempDir()
	writeFiles(t, md, map[string]string{
		"cur/1700000000.a.h,S=22:2,S":         "Subject: one\r\n\r\nhi\r\n",
		"new/1700000001.b.h":                  "Subject: two\n\nnew\n",
		".&XfJT0ZAB-/cur/1700000003.d.h:2,RS": "Subject: sent\n\nx\n",
		".Work.2024/cur/1700000004.e.h:2,Fa":  "Subject: work\n\ny\n",
		".Work.2024/dovecot-keywords":         "0 project-x\n",
	})
	out := mustRun(t, "", "import", "maildir", "--data", dir, md, "alice@example.test")
	if !strings.Contains(out, "4 read, 4 imported") {
		t.Fatalf("summary: %s", out)
	}
	out = mustRun(t, "", "import", "maildir", "--data", dir, md, "alice@example.test")
	if !strings.Contains(out, "4 read, 0 imported") || !strings.Contains(out, "4 already there") {
		t.Fatalf("second run: %s", out)
	}
	mb := filepath.Join(t.TempDir(), "Sent Messages.mbox")
	writeFiles(t, filepath.Dir(mb), map[string]string{filepath.Base(mb): "From a@b Mon Jan  2 15:04:05 2006\nSubject: s1\nStatus: RO\n\n>From x\n\nFrom a@b Mon Jan  2 15:04:06 2006\nSubject: s2\n\nbody\n"})
	out = mustRun(t, "", "import", "mbox", "--data", dir, mb, "alice@example.test")
	if !strings.Contains(out, "2 read, 2 imported") {
		t.Fatalf("mbox summary: %s", out)
	}
	got := mailboxCounts(t, dir, "alice@example.test")
	if got["INBOX"] != 2 || got["Sent"] != 3 || got["Work/2024"] != 1 {
		t.Fatalf("counts = %v", got)
	}
	if code, _, errs := run(t, "", "import", "maildir", "--data", dir, t.TempDir(), "alice@example.test"); code != 1 || !strings.Contains(errs, "no cur/") {
		t.Errorf("not a Maildir: exit %d %s", code, errs)
	}
}

// TestImportWhileServing imports while serve owns the store: the command
// goes through the control socket, and the server sees the mail at once.
func TestImportWhileServing(t *testing.T) {
	dir := newData(t)
	mustRun(t, "alicepw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, _, stop := startServe(t, dir)
	var mbox strings.Builder
	for i := 0; i < 300; i++ {
		mbox.WriteString("From a@b Mon Jan  2 15:04:05 2006\nSubject: m" + strings.Repeat("x", i%7) + "\nMessage-ID: <" + string(rune('a'+i%26)) + ">\n\nbody " + strings.Repeat("y", i) + "\n\n")
	}
	mb := filepath.Join(t.TempDir(), "inbox")
	writeFiles(t, filepath.Dir(mb), map[string]string{"inbox": mbox.String()})
	out := mustRun(t, "", "import", "mbox", "--data", dir, mb, "alice@example.test")
	if !strings.Contains(out, "300 read, 300 imported") {
		t.Fatalf("summary: %s", out)
	}
	if st := imapStatus(t, addrs["imaps"], "alice@example.test", "alicepw"); !strings.Contains(st, "MESSAGES 300") {
		t.Fatalf("STATUS after import: %q", st)
	}
	out = mustRun(t, "", "import", "mbox", "--data", dir, mb, "alice@example.test")
	if !strings.Contains(out, "0 imported") {
		t.Fatalf("second run: %s", out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := mailboxCounts(t, dir, "alice@example.test"); got["INBOX"] != 300 {
		t.Fatalf("counts = %v", got)
	}
}

// TestImportIMAPCommand runs "youju import imap" against a real Dovecot
// (plain IMAP on loopback) with the password on standard input.
func TestImportIMAPCommand(t *testing.T) {
	dir := newData(t)
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	d := testutil.StartDovecot(t, func(md string) {
		writeFiles(t, md, map[string]string{
			"cur/1700000000.a.h:2,S":                "Subject: one\r\n\r\nhi\r\n",
			".Sent Messages/cur/1700000001.b.h:2,S": "Subject: sent\r\n\r\nx\r\n",
		})
	})
	from := "imap://" + url.QueryEscape(d.User) + "@" + d.Addr
	out := mustRun(t, d.Password+"\n", "import", "imap", "--data", dir, "--from", from, "--concurrency", "2", "--password-stdin", "alice@example.test")
	if !strings.Contains(out, "2 read, 2 imported") {
		t.Fatalf("summary: %s", out)
	}
	out = mustRun(t, d.Password+"\n", "import", "imap", "--data", dir, "--from", from, "--password-stdin", "alice@example.test")
	if !strings.Contains(out, "0 read, 0 imported") {
		t.Fatalf("second run: %s", out)
	}
	if got := mailboxCounts(t, dir, "alice@example.test"); got["INBOX"] != 1 || got["Sent"] != 1 {
		t.Fatalf("counts = %v", got)
	}
	if code, _, errs := run(t, "x\n", "import", "imap", "--data", dir, "--from", "imap://u@192.0.2.1:143", "--password-stdin", "alice@example.test"); code == 0 || !strings.Contains(errs, "without TLS") {
		t.Errorf("plaintext to a remote host: exit %d %s", code, errs)
	}
}
