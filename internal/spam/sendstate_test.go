package spam

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The counters survive a restart: a limit reached before it is still
// reached after, and the known correspondents are still known.
func TestSendStateSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spam", "sendstate.log")
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	open := func() *SendLimits {
		l := &SendLimits{MessagesHour: 3, NewRcptsHour: 5, Now: clock,
			OnError: func(err error) { t.Errorf("journal: %v", err) }}
		if err := l.OpenState(path); err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	for range 3 {
		send(t, l, 7, "Friend@Remote.example")
	}
	if g, _, why := l.Allow(7, []string{"friend@remote.example"}); g != nil || why != "messages per hour" {
		t.Fatalf("before restart: %v %q", g, why)
	}
	if !l.ShouldAlert(7) {
		t.Fatal("first alert refused")
	}
	if err := l.CloseState(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a line leaves a torn tail: skipped.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("S 7 12")
	f.Close()

	l = open()
	defer l.CloseState()
	if why := refused(l, 7, "friend@remote.example"); why != "messages per hour" {
		t.Fatalf("after restart: %q (the count was lost)", why)
	}
	if l.ShouldAlert(7) {
		t.Fatal("alerted twice within the hour across a restart")
	}
	if !l.Knows(7, "FRIEND@remote.example") || l.Knows(7, "other@remote.example") || l.Knows(8, "friend@remote.example") {
		t.Fatal("known correspondents wrong after restart")
	}
	if why := refused(l, 8, "x@remote.example"); why != "" {
		t.Fatalf("another account limited: %s", why)
	}
	// An hour later the hourly count has fallen; a day later the
	// rewritten journal no longer has the messages, but still the
	// correspondent (30 days).
	now = now.Add(25 * time.Hour)
	l.CloseState()
	l = open()
	if why := refused(l, 7, "friend@remote.example"); why != "" {
		t.Fatalf("a day later: %s", why)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "S 7 ") || !strings.Contains(string(b), "K 7 ") {
		t.Fatalf("journal after a day:\n%s", b)
	}
	if !l.Knows(7, "friend@remote.example") {
		t.Fatal("correspondent forgotten after a day")
	}
	now = now.Add(31 * 24 * time.Hour)
	if l.Knows(7, "friend@remote.example") {
		t.Fatal("correspondent known after 31 days")
	}
}

// A journal full of rubbish opens (skipping it); nothing panics.
func TestSendStateRubbish(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sendstate.log")
	junk := "S\nK 1 2\nK 1 2 a b\nS x 1\nS 1 -4\nQ 1 1\n" + strings.Repeat("z", 100000) + "\nS 1 1 1\n"
	if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &SendLimits{}
	if err := l.OpenState(path); err != nil {
		t.Fatal(err)
	}
	defer l.CloseState()
	if len(l.accts) != 0 {
		t.Fatalf("rubbish made state: %v", l.accts)
	}
}

func FuzzJournalLine(f *testing.F) {
	for _, s := range []string{"S 1 1700000000", "K 3 1700000000 a@b.example", "A 1 5", "F -1 0", "K 1 1 ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		op, acct, at, addr, ok := parseJournalLine(line)
		if !ok {
			return
		}
		// What parses writes back the same.
		if got := journalLine(op, acct, at, addr); got != line && strings.TrimLeft(got, " ") != line {
			// Numbers may be written differently (leading zeros, +):
			// re-parsing must agree.
			op2, acct2, at2, addr2, ok2 := parseJournalLine(got)
			if !ok2 || op2 != op || acct2 != acct || !at2.Equal(at) || addr2 != addr {
				t.Fatalf("%q -> %q", line, got)
			}
		}
	})
}
