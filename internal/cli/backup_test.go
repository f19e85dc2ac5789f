package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
)

// inboxMessages returns the INBOX of addr in the store of dir (serve must
// not run): the bytes of each message by UID.
func inboxMessages(t *testing.T, dir, addr string) map[store.UID][]byte {
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
	inbox, err := st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.UID][]byte{}
	err = st.ListMessages(ctx, a.ID, inbox.ID, store.ListOptions{}, func(m *store.Message) error {
		r, err := st.OpenMessage(ctx, a.ID, inbox.ID, m.UID)
		if err != nil {
			return err
		}
		defer r.Close()
		out[m.UID], err = io.ReadAll(r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupDuringSMTPLoad backs up while 50 SMTP connections deliver,
// restores into an empty directory, and checks that every message
// acknowledged before the backup started is there, byte for byte as in
// the live store; a second backup only extends the segments.
func TestBackupDuringSMTPLoad(t *testing.T) {
	dir := newData(t)
	mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", "alice@example.test")
	addrs, _, stop := startServe(t, dir)
	const conns, perConn = 50, 30
	var mu sync.Mutex
	acked := map[string]time.Time{} // subject token → when the 250 came
	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c, err := smtp.Dial(addrs["smtp"])
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < perConn; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				tok := fmt.Sprintf("load-%d-%d", g, i)
				if err := c.Mail("s@remote.test"); err != nil {
					t.Error(err)
					return
				}
				if err := c.Rcpt("alice@example.test"); err != nil {
					t.Error(err)
					return
				}
				w, err := c.Data()
				if err != nil {
					t.Error(err)
					return
				}
				fmt.Fprintf(w, "From: s@remote.test\r\nSubject: %s\r\n\r\n%s\r\n", tok, strings.Repeat("backup body line\r\n", 20+i))
				if err := w.Close(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[tok] = time.Now()
				mu.Unlock()
			}
		}(g)
	}
	// Let the load run, then back up in the middle of it.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	dest := filepath.Join(t.TempDir(), "backup")
	t0 := time.Now()
	out := mustRun(t, "", "backup", "--data", dir, dest)
	close(stopLoad)
	wg.Wait()
	if !strings.Contains(out, "manifest") {
		t.Fatalf("backup said: %s", out)
	}
	// Restore this backup, taken under load, before the next one.
	newDir := filepath.Join(t.TempDir(), "restored")
	mustRun(t, "", "restore", "--data", newDir, dest)
	// A second backup writes far less: segments are only extended.
	out2 := mustRun(t, "", "backup", "--data", dir, dest)
	if !regexp.MustCompile(`\(([1-9]\d*) segments only extended\)`).MatchString(out2) {
		t.Errorf("second backup copied the segments again: %s", out2)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	live := inboxMessages(t, dir, "alice@example.test")
	restored := inboxMessages(t, newDir, "alice@example.test")
	found := map[string]bool{}
	subj := regexp.MustCompile(`(?m)^Subject: (load-\d+-\d+)\r$`)
	for uid, b := range restored {
		if !bytes.Equal(b, live[uid]) {
			t.Errorf("UID %d differs between the restored and the live store", uid)
		}
		if m := subj.FindSubmatch(b); m != nil {
			found[string(m[1])] = true
		}
	}
	before := 0
	for tok, at := range acked {
		if at.Before(t0) {
			before++
			if !found[tok] {
				t.Errorf("%s acknowledged before the backup started, missing after restore", tok)
			}
		}
	}
	if before < 200 || len(restored) < before {
		t.Fatalf("%d acknowledged before the backup, %d restored", before, len(restored))
	}
	t.Logf("%d acknowledged before the backup, %d in all, %d restored", before, len(acked), len(restored))
}

// TestBackupRestoreChecks refuses a non-empty target and a damaged backup.
func TestBackupRestoreChecks(t *testing.T) {
	dir := newData(t)
	dest := filepath.Join(t.TempDir(), "b")
	mustRun(t, "", "backup", "--data", dir, dest)
	if code, _, errs := run(t, "", "restore", "--data", dir, dest); code == 0 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore over a data directory: exit %d %s", code, errs)
	}
	if err := appendTo(filepath.Join(dest, "youju.toml"), "# tampered\n"); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, "", "restore", "--data", filepath.Join(t.TempDir(), "n"), dest); code == 0 || !strings.Contains(errs, "damaged") {
		t.Errorf("restore of a damaged backup: exit %d %s", code, errs)
	}
}

func appendTo(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

// mailboxDump describes every message of addr: mailbox, flags, keywords,
// date and bytes, sorted, to compare two accounts.
func mailboxDump(t *testing.T, dir, addr string) []string {
	t.Helper()
	ctx := context.Background()
	c, _ := config.Load(dir)
	st, err := openStore(ctx, dir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Account(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	boxes, _ := st.Mailboxes(ctx, a.ID)
	var out []string
	for _, b := range boxes {
		st.ListMessages(ctx, a.ID, b.ID, store.ListOptions{}, func(m *store.Message) error {
			r, err := st.OpenMessage(ctx, a.ID, b.ID, m.UID)
			if err != nil {
				return err
			}
			defer r.Close()
			data, _ := io.ReadAll(r)
			out = append(out, fmt.Sprintf("%s|%b|%s|%d|%q", b.Name, m.Flags.System, strings.Join(m.Flags.Keywords, ","), m.InternalDate.Unix(), data))
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// TestExportRoundTrip exports an account as mbox (while serve runs,
// through the control socket) and as Maildir (store opened here), imports
// each into a new account, and finds the same messages, flags, keywords,
// dates and bytes.
func TestExportRoundTrip(t *testing.T) {
	dir := newData(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		mustRun(t, "pw\n", "user", "add", "--data", dir, "--password-stdin", u+"@example.test")
	}
	md := t.TempDir()
	writeFiles(t, md, map[string]string{
		"cur/1700000000.a.h:2,S":              "Subject: one\r\n\r\nFrom me\r\n>From you\r\n",
		"cur/1700000005.x.h:2,FRa":            "Subject: kw\r\n\r\nx\r\n",
		".&XfJT0ZAB-/cur/1700000003.d.h:2,RS": "Subject: sent\r\n\r\nx\r\n",
		".Work.2024/cur/1700000004.e.h:2,DFa": "Subject: work\r\n\r\ny\r\n",
		".Work.2024/dovecot-keywords":         "0 project-x\n",
		"dovecot-keywords":                    "0 $Label1\n",
	})
	mustRun(t, "", "import", "maildir", "--data", dir, md, "alice@example.test")
	want := mailboxDump(t, dir, "alice@example.test")
	if len(want) != 4 {
		t.Fatalf("alice: %q", want)
	}
	mb := t.TempDir()
	_, _, stop := startServe(t, dir)
	out := mustRun(t, "", "export", "--data", dir, "--format", "mbox", "alice@example.test", mb)
	if !strings.Contains(out, "4 messages") {
		t.Fatalf("export: %s", out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "import", "mbox", "--data", dir, filepath.Join(mb), "bob@example.test")
	mdOut := t.TempDir()
	mustRun(t, "", "export", "--data", dir, "--format", "maildir", "alice@example.test", mdOut)
	mustRun(t, "", "import", "maildir", "--data", dir, mdOut, "carol@example.test")
	for _, who := range []string{"bob@example.test", "carol@example.test"} {
		if got := mailboxDump(t, dir, who); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s after the round trip:\n%s\nwant:\n%s", who, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
