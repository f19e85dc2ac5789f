package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestMbsyncInterop syncs the account both ways with mbsync (isync), a
// real-world client: server to Maildir, then a message written into the
// Maildir back to the server. mbsync uses COMPRESS=DEFLATE when offered
// (and flushes with Z_PARTIAL_FLUSH); the test checks that it did.
// Skipped when mbsync is not installed.
func TestMbsyncInterop(t *testing.T) {
	mbsync := testutil.NeedCommand(t, "mbsync", "apt-get install isync")
	var logs testutil.SyncBuffer
	ts := startServer(t, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", multipartMsg, 1)
	dir := t.TempDir()
	rc, maildir := writeMbsyncrc(t, ts, dir, mbsyncOpts{authMechs: "LOGIN", patterns: "INBOX Archive", create: "Both", expunge: true, subFolders: true})
	run := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, mbsync, append(mbsyncDebug(), "-c", rc, "-a")...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	run()
	cur, _ := filepath.Glob(filepath.Join(maildir, "INBOX", "cur", "*"))
	nw, _ := filepath.Glob(filepath.Join(maildir, "INBOX", "new", "*"))
	if len(cur)+len(nw) != 2 {
		t.Fatalf("Maildir INBOX has %d+%d messages, want 2", len(cur), len(nw))
	}
	// A message written into the Maildir's Archive goes up to the server.
	arch := filepath.Join(maildir, "Archive")
	if err := os.WriteFile(filepath.Join(arch, "new", "1.local"), []byte(simpleMsg), 0o600); err != nil {
		t.Fatal(err)
	}
	run()
	m, err := ts.st.Mailbox(t.Context(), ts.acct.ID, "Archive")
	if err != nil || m.Messages != 1 {
		t.Fatalf("Archive on the server: %+v %v", m, err)
	}
	if n := strings.Count(logs.String(), "COMPRESS=DEFLATE active"); n < 2 {
		t.Errorf("%d mbsync sessions used COMPRESS=DEFLATE, want 2", n)
	}
	// Read it back with a raw session.
	c := ts.login(t)
	c.ok("SELECT Archive")
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"), "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: hello\r\n\r\n)")
}

func mbsyncDebug() []string {
	if os.Getenv("YOUJU_MBSYNC_DEBUG") != "" {
		return []string{"-Dn"}
	}
	return nil
}

// mbsyncOpts are what the mbsync tests' configurations differ in.
type mbsyncOpts struct {
	pass       string // testPassword if empty
	authMechs  string // AuthMechs
	patterns   string // Patterns
	create     string // Create
	expunge    bool   // Expunge Both
	subFolders bool   // SubFolders Verbatim
}

// writeMbsyncrc writes dir/mbsyncrc, a channel between ts's plaintext
// port (loopback) and the Maildir dir/mail, which it creates; it returns
// the file's and the Maildir's paths.
func writeMbsyncrc(t *testing.T, ts *testServer, dir string, o mbsyncOpts) (rc, maildir string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(ts.addr)
	maildir = filepath.Join(dir, "mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	if o.pass == "" {
		o.pass = testPassword
	}
	var b strings.Builder
	fmt.Fprintf(&b, "IMAPAccount youju\nHost %s\nPort %s\nUser %s\nPass \"%s\"\nSSLType None\nAuthMechs %s\n\n", host, port, testUser, o.pass, o.authMechs)
	fmt.Fprintf(&b, "IMAPStore remote\nAccount youju\n\nMaildirStore local\nPath %s/\nInbox %s/INBOX\n", maildir, maildir)
	if o.subFolders {
		b.WriteString("SubFolders Verbatim\n")
	}
	fmt.Fprintf(&b, "\nChannel sync\nFar :remote:\nNear :local:\nPatterns %s\nCreate %s\n", o.patterns, o.create)
	if o.expunge {
		b.WriteString("Expunge Both\n")
	}
	b.WriteString("SyncState *\n")
	rc = filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return rc, maildir
}
