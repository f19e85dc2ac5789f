package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestMbsyncChineseFolders is the scenario of bug 7 of issue 10: mbsync
// syncs every folder, with Chinese names on the server and in the Maildir,
// twice; the second sync must create nothing (mbsync 1.4 used to make a
// duplicate folder on every run when raw UTF-8 names were taken as UTF-8).
func TestMbsyncChineseFolders(t *testing.T) {
	mbsync := testutil.NeedCommand(t, "mbsync", "apt-get install isync")
	ts := startServer(t, nil)
	c := ts.login(t)
	c.ok("CREATE &mHl27g-/&YqVUSg-") // 项目/报告
	ts.deliver(t, "项目/报告", simpleMsg, 0)

	dir := t.TempDir()
	rc, maildir := writeMbsyncrc(t, ts, dir, mbsyncOpts{authMechs: "LOGIN", patterns: "*", create: "Both", expunge: true, subFolders: true})
	run := func() (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, mbsync, append(mbsyncDebug(), "-c", rc, "-a")...).CombinedOutput()
		return string(out), err
	}
	serverNames := func() []string {
		mboxes, err := ts.st.Mailboxes(t.Context(), ts.acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range mboxes {
			names = append(names, m.Name)
		}
		slices.Sort(names)
		return names
	}
	localNames := func() []string {
		var names []string
		filepath.WalkDir(maildir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == "cur" {
				rel, _ := filepath.Rel(maildir, filepath.Dir(p))
				names = append(names, rel)
			}
			return nil
		})
		slices.Sort(names)
		return names
	}
	// mbsync 1.4 keeps names as the server sends them: the Maildir folder
	// of 已发送 is "&XfJT0ZAB-". One made there goes up as 已发送.
	writeMaildirMsg(t, filepath.Join(maildir, "&XfJT0ZAB-"), "1.local")
	for i := range 2 {
		if out, err := run(); err != nil {
			t.Fatalf("sync %d: %v\n%s", i+1, err, out)
		}
		wantServer := []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash", "已发送", "项目", "项目/报告"}
		wantLocal := []string{"&XfJT0ZAB-", "&mHl27g-", "&mHl27g-/&YqVUSg-", "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}
		if got := serverNames(); !slices.Equal(got, wantServer) {
			t.Fatalf("sync %d: server has %q, want %q", i+1, got, wantServer)
		}
		if got := localNames(); !slices.Equal(got, wantLocal) {
			t.Fatalf("sync %d: Maildir has %q, want %q", i+1, got, wantLocal)
		}
	}
	for name, want := range map[string]int{"已发送": 1, "项目/报告": 1} {
		if m, err := ts.st.Mailbox(t.Context(), ts.acct.ID, name); err != nil || m.Messages != want {
			t.Fatalf("%s on the server: %+v %v", name, m, err)
		}
	}
	if n := countMaildir(t, filepath.Join(maildir, "&mHl27g-/&YqVUSg-")); n != 1 {
		t.Fatalf("项目/报告 in the Maildir has %d messages", n)
	}

	// A folder named in raw UTF-8 (made by another program) is refused
	// with a clear NO, every time, and nothing is duplicated: before,
	// the server took it as UTF-8, listed it back as "&g0l6P3ux-", and
	// mbsync made a second local folder of that name on the next run.
	writeMaildirMsg(t, filepath.Join(maildir, "草稿箱"), "2.local")
	for i := range 2 {
		out, err := run()
		if err == nil || !strings.Contains(out, "NO [CANNOT]") {
			t.Fatalf("sync of a raw UTF-8 folder %d: %v\n%s", i+1, err, out)
		}
		if got := serverNames(); slices.Contains(got, "草稿箱") {
			t.Fatalf("server created %q from a raw UTF-8 name", got)
		}
		if got := localNames(); slices.Contains(got, "&g0l6P3ux-") {
			t.Fatalf("duplicate local folder: %q", got)
		}
	}
}

// writeMaildirMsg makes the Maildir folder dir and puts a message in new/.
func writeMaildirMsg(t *testing.T, dir, name string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "new", name), []byte(simpleMsg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// countMaildir counts the messages of a Maildir folder.
func countMaildir(t *testing.T, dir string) int {
	t.Helper()
	cur, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	nw, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	return len(cur) + len(nw)
}
