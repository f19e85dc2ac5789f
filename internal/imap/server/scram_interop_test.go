package server

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/testutil"
)

// TestMbsyncSCRAMInterop logs in with mbsync through Cyrus SASL's SCRAM
// plugin (Debian's libsasl2-modules), a SCRAM-SHA-256 client we did not
// write, and syncs the INBOX. A wrong password must fail.
func TestMbsyncSCRAMInterop(t *testing.T) {
	mbsync := testutil.NeedCommand(t, "mbsync", "apt-get install isync")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/sasl2/libscram.so.2"); err != nil {
		if m, _ := filepath.Glob("/usr/lib/*/sasl2/libscram.so*"); len(m) == 0 {
			testutil.Missing(t, "Cyrus SASL's SCRAM plugin is not installed (apt-get install libsasl2-modules)")
		}
	}
	var logs testutil.SyncBuffer
	ts := startServer(t, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	withSCRAMKeys(t, ts)
	ts.deliver(t, "INBOX", simpleMsg, 0)
	dir, maildir := t.TempDir(), ""
	sync := func(pass string) ([]byte, error) {
		var rc string
		rc, maildir = writeMbsyncrc(t, ts, dir, mbsyncOpts{pass: pass, authMechs: "SCRAM-SHA-256", patterns: "INBOX", create: "Near"})
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, mbsync, append(mbsyncDebug(), "-c", rc, "-a")...).CombinedOutput()
	}
	if out, err := sync("wrong password"); err == nil {
		t.Fatalf("mbsync logged in with a wrong password:\n%s", out)
	}
	if out, err := sync(testPassword); err != nil {
		t.Fatalf("mbsync with SCRAM-SHA-256: %v\n%s", err, out)
	}
	cur, _ := filepath.Glob(filepath.Join(maildir, "INBOX", "cur", "*"))
	nw, _ := filepath.Glob(filepath.Join(maildir, "INBOX", "new", "*"))
	if len(cur)+len(nw) != 1 {
		t.Fatalf("Maildir INBOX has %d+%d messages, want 1", len(cur), len(nw))
	}
	// The server saw SCRAM, not another mechanism.
	l := logs.String()
	if !regexp.MustCompile(`msg=authenticated .*mech=SCRAM-SHA-256\n`).MatchString(l) || !strings.Contains(l, "e=invalid-proof") {
		t.Errorf("the server log shows no SCRAM-SHA-256 failure and success:\n%s", l)
	}
}
