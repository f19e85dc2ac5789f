package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// TestOfflineIMAPChineseFolders syncs both ways with offlineimap3 (with
// utf8foldernames, so that the Maildir has UTF-8 names and the IMAP side
// modified UTF-7): a folder and message made on the server (项目/报告) and
// one made in the Maildir (已发送/2026) reach the other side under the right
// name, flags follow both ways, and further syncs create nothing twice.
func TestOfflineIMAPChineseFolders(t *testing.T) {
	oi := testutil.NeedCommand(t, "offlineimap", "apt-get install offlineimap3")
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("CREATE &mHl27g-/&YqVUSg-") // 项目/报告
	ts.deliver(t, "项目/报告", simpleMsg, store.FlagFlagged)

	dir := t.TempDir()
	maildir := filepath.Join(dir, "mail")
	host, port, _ := net.SplitHostPort(ts.addr)
	conf := fmt.Sprintf(`[general]
accounts = youju
metadata = %s/meta
maxsyncaccounts = 1

[Account youju]
localrepository = local
remoterepository = remote
utf8foldernames = yes

[Repository local]
type = Maildir
localfolders = %s
sep = /

[Repository remote]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
maxconnections = 1
folderfilter = lambda f: f in ('INBOX', '项目', '项目/报告', '已发送', '已发送/2026')
`, dir, maildir, host, port, testUser, testPassword)
	rc := filepath.Join(dir, "offlineimaprc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, oi, "-c", rc, "-o", "-u", "basic", "-1")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "ERROR") {
			t.Fatalf("offlineimap sync %d: %v\n%s", n, err, out)
		}
	}

	// A folder with a flagged, seen message made on the Maildir side
	// (its parent is a Maildir folder too, as a mail reader makes it).
	local := filepath.Join(maildir, "已发送", "2026")
	for _, sub := range []string{"cur", "new", "tmp"} {
		for _, d := range []string{local, filepath.Dir(local)} {
			if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(local, "cur", "1700000000.1.host:2,FS"), []byte(strings.ReplaceAll(simpleMsg, "\r\n", "\n")), 0o600); err != nil {
		t.Fatal(err)
	}

	run(1)
	// Server side: 已发送/2026 exists with the message and its flags.
	sent := serverMessages(t, ts, "已发送/2026")
	if len(sent) != 1 || sent[0].Flags.System != store.FlagSeen|store.FlagFlagged {
		t.Fatalf("已发送/2026 on the server: %+v", sent)
	}
	// Maildir side: 项目/报告 with the message, flagged.
	got := maildirFiles(t, filepath.Join(maildir, "项目", "报告"))
	if len(got) != 1 || !strings.HasSuffix(got[0], ":2,F") {
		t.Fatalf("项目/报告 in the Maildir: %q", got)
	}

	// Flags change on both sides, then two more syncs.
	c.ok("SELECT &mHl27g-/&YqVUSg-")
	c.ok("STORE 1 +FLAGS (\\Seen)")
	files := maildirFiles(t, local) // offlineimap renamed it (U=uid)
	if len(files) != 1 || !strings.HasSuffix(files[0], ":2,FS") {
		t.Fatalf("已发送/2026 in the Maildir: %q", files)
	}
	if err := os.Rename(files[0], strings.TrimSuffix(files[0], "FS")+"RS"); err != nil { // flagged→answered
		t.Fatal(err)
	}
	run(2)
	run(3)
	if got := maildirFiles(t, filepath.Join(maildir, "项目", "报告")); len(got) != 1 || !strings.HasSuffix(got[0], ":2,FS") {
		t.Fatalf("项目/报告 in the Maildir after the server's STORE: %q", got)
	}
	if sent := serverMessages(t, ts, "已发送/2026"); len(sent) != 1 || sent[0].Flags.System != store.FlagSeen|store.FlagAnswered {
		t.Fatalf("已发送/2026 on the server after the local change: %+v", sent)
	}
	// No folder twice on either side, and no mUTF-7 name in the Maildir.
	mboxes, err := ts.st.Mailboxes(t.Context(), ts.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mboxes {
		names = append(names, m.Name)
	}
	for _, want := range []string{"已发送", "已发送/2026", "项目", "项目/报告"} {
		if !slices.Contains(names, want) {
			t.Fatalf("server has %q, missing %q", names, want)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "&") {
			t.Fatalf("server has a modified UTF-7 name taken literally: %q", names)
		}
	}
	if len(names) != 10 { // INBOX, 5 special-use, 已发送, 已发送/2026, 项目, 项目/报告
		t.Fatalf("server mailboxes %q", names)
	}
	filepath.WalkDir(maildir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.Contains(d.Name(), "&") {
			t.Errorf("modified UTF-7 folder in the Maildir: %s", p)
		}
		return nil
	})
}

// serverMessages lists the messages of a mailbox from the store.
func serverMessages(t *testing.T, ts *testServer, name string) []store.Message {
	t.Helper()
	m, err := ts.st.Mailbox(t.Context(), ts.acct.ID, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []store.Message
	if err := ts.st.ListMessages(t.Context(), ts.acct.ID, m.ID, store.ListOptions{}, func(msg *store.Message) error {
		out = append(out, *msg)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// maildirFiles lists the message files of a Maildir folder.
func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	cur, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	nw, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	return append(cur, nw...)
}
