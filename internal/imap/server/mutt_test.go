package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/testutil"
)

// TestMuttChineseFolders drives mutt, scripted with push under script(1)
// for a terminal: it opens the folder browser on the server, finds 已发送
// in the list by searching for its name, opens it, pipes the message to a
// file (reading it), and copies it to 项目/报告, a Chinese-named folder
// it must create; the store then has the copy under that name. Mutt 2.2
// sends ENABLE UTF8=ACCEPT, so this is the UTF-8 naming mode with a real
// client (mbsync and offlineimap use modified UTF-7).
func TestMuttChineseFolders(t *testing.T) {
	mutt := testutil.NeedCommand(t, "mutt", "apt-get install mutt")
	script := testutil.NeedCommand(t, "script", "apt-get install bsdutils")
	// As `youju serve` wires it: alice's password predates SCRAM keys (an
	// upgraded installation), so SCRAM is not offered and mutt, which
	// takes the strongest mechanism Cyrus SASL has and does not fall back
	// after a failure, logs in with PLAIN; that adds her keys.
	ts := startServer(t, func(s *Server) {
		raw := s.Store.(scramStore)
		s.Auth = auth.New(s.Store, auth.Options{DefaultDomain: "example.org", SetSCRAM: raw.SetSCRAM, SCRAMReady: raw.SCRAMReady})
	})
	for _, name := range []string{"已发送", "项目"} {
		if _, err := ts.st.CreateMailbox(t.Context(), ts.acct.ID, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	ts.deliver(t, "已发送", strings.Replace(simpleMsg, "Subject: hello", "Subject: =?UTF-8?B?5bm05bqm5oql5ZGK?=", 1), 0)
	if caps := dialRaw(t, ts.addr).ok("CAPABILITY")[0]; strings.Contains(caps, "SCRAM") || !strings.Contains(caps, "AUTH=PLAIN") {
		t.Fatalf("before any login, with a password without SCRAM keys: %s", caps)
	}

	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(ts.addr)
	out := filepath.Join(dir, "read.eml")
	rc := filepath.Join(dir, "muttrc")
	conf := fmt.Sprintf(`set folder="imap://%s@%s:%s/"
set imap_user="%s"
set imap_pass="%s"
set spoolfile="+INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set header_cache=""
set message_cachedir=""
set record=""
set postponed=""
set charset="utf-8"
set confirmappend=no
set confirmcreate=no
set quit=yes
set move=no
set wait_key=no
set mail_check=3600
set timeout=3600
set imap_keepalive=3600
set sort=date
set pipe_decode=no
`, strings.ReplaceAll(testUser, "@", "%40"), host, port, testUser, testPassword)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := `<change-folder>?<search>已发送<enter><select-entry>` +
		`<pipe-message>cat > ` + out + `<enter>` +
		`<copy-message>=项目/报告<enter><sync-mailbox><quit>`
	muttCmd := fmt.Sprintf("%s -n -F %s -e 'push \"%s\"'", mutt, rc, keys)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-q", "-e", "-c", muttCmd, filepath.Join(dir, "typescript"))
	cmd.Env = append(os.Environ(), "TERM=xterm", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "HOME="+dir, "COLUMNS=120", "LINES=40")
	cmd.Stdin = strings.NewReader("")
	transcript, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mutt: %v\n%q", err, transcript)
	}
	// The browser listed both folders by their names, and mutt opened
	// 已发送 from it (its status line names the folder).
	for _, want := range []string{"已发送", "项目", "=已发送 [Msgs:1"} {
		if !strings.Contains(string(transcript), want) {
			t.Fatalf("mutt's screen lacks %q:\n%q", want, transcript)
		}
	}
	read, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(read), "Message-ID: <1@example.com>") || !strings.Contains(string(read), "how are you?") {
		t.Fatalf("message piped by mutt: %v %q\nscreen: %q", err, read, transcript)
	}
	copied := serverMessages(t, ts, "项目/报告")
	if len(copied) != 1 {
		t.Fatalf("项目/报告 has %d messages after mutt's copy", len(copied))
	}
	mboxes, err := ts.st.Mailboxes(t.Context(), ts.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mboxes {
		if strings.Contains(m.Name, "&") {
			t.Fatalf("mutt's name was stored in modified UTF-7: %q", m.Name)
		}
	}
	// mutt's PLAIN login gave alice SCRAM keys: every password has them
	// now, so SCRAM is offered.
	if caps := dialRaw(t, ts.addr).ok("CAPABILITY")[0]; !strings.Contains(caps, "AUTH=SCRAM-SHA-256") {
		t.Fatalf("SCRAM not offered once every password has keys: %s", caps)
	}
	c := ts.login(t)
	c.ok("SELECT &mHl27g-/&YqVUSg-")
	mustContain(t, c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"), "* 1 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] {31}\r\nMessage-ID: <1@example.com>\r\n\r\n)")
}
