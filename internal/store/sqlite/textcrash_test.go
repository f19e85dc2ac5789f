package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// textCrashBody is message i's body in TestTextIndexerCatchesUpAfterKill.
func textCrashBody(i int) string {
	return fmt.Sprintf("word%d 发票%c number%d", i%37, rune(0x4E00+i%11), i)
}

// TestTextIndexerCatchesUpAfterKill: a server process is killed (SIGKILL)
// while its background indexer writes text.db; reopened, the indexer goes
// on from its marks and the index again answers as a scan: every match a
// candidate, every proof a match.
func TestTextIndexerCatchesUpAfterKill(t *testing.T) {
	if dir := os.Getenv("YOUJU_TEXT_KILL_CHILD"); dir != "" {
		textKillChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	const n = 600
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTextIndexerCatchesUpAfterKill$")
		cmd.Env = append(os.Environ(), "YOUJU_TEXT_KILL_CHILD="+dir, fmt.Sprintf("YOUJU_TEXT_KILL_N=%d", n*(round+1)))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if !strings.HasPrefix(line, "delivered") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q", line)
		}
		// The indexer starts once the writer is idle: kill it somewhere
		// in its batches.
		time.Sleep(time.Duration(300+rand.Intn(1200)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	s := openStore(t, dir) // with the background indexer
	defer s.Close()
	ctx := context.Background()
	acct, err := s.Account(ctx, "kill@example.org")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	total := int(mb.UIDNext) - 1
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m, ok, err := s.TextCandidates(ctx, acct.ID, mb.ID, store.TextBody, "qqzzxx")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if len(m.Candidates) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %v", m.Candidates)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, q := range []string{"word5", "word36", "发票", "发票" + string(rune(0x4E03)), "number123", "umber1", "ord1"} {
		m, ok, err := s.TextCandidates(ctx, acct.ID, mb.ID, store.TextBody, q)
		if err != nil || !ok {
			t.Fatalf("%q: %v %v", q, ok, err)
		}
		hits := 0
		for i := range total {
			u := store.UID(i + 1)
			has := strings.Contains(textCrashBody(i), q)
			if has {
				hits++
			}
			if has && !m.Candidates.Contains(u) {
				t.Errorf("%q: UID %d matches, not a candidate", q, u)
			}
			if !has && (m.Sure.Contains(u) || q == "word5" && m.Candidates.Contains(u)) {
				t.Errorf("%q: UID %d proved or a candidate, does not match", q, u)
			}
		}
		if hits == 0 {
			t.Errorf("%q: no message has it", q)
		}
	}
}

// textKillChild delivers messages up to YOUJU_TEXT_KILL_N, says so, and
// lets the indexer run until killed.
func textKillChild(dir string) {
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	acct, err := s.Account(ctx, "kill@example.org")
	if err != nil {
		s.AddDomain(ctx, "example.org")
		if acct, err = s.CreateAccount(ctx, store.Account{Address: "kill@example.org"}); err != nil {
			fmt.Println("account:", err)
			os.Exit(1)
		}
	}
	mb, err := s.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		fmt.Println("inbox:", err)
		os.Exit(1)
	}
	var n int
	fmt.Sscan(os.Getenv("YOUJU_TEXT_KILL_N"), &n)
	for i := int(mb.UIDNext) - 1; i < n; i++ {
		msg := "Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + textCrashBody(i) + "\r\n"
		if _, err := s.Deliver(ctx, store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: acct.ID, Mailbox: mb.ID}}}); err != nil {
			fmt.Println("deliver:", err)
			os.Exit(1)
		}
	}
	fmt.Println("delivered")
	select {}
}
