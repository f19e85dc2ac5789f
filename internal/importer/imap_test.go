package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// remoteMsg is what the test put on the remote server.
type remoteMsg struct {
	folder string // ours, after mapping
	flags  store.SysFlags
	kws    string
	date   time.Time
}

// populateRemote writes n messages into a Dovecot Maildir++: INBOX,
// "已发送" (→ Sent), "Work/项目" and "[Gmail]/All Mail" (a view: skipped),
// with flags, Dovecot keyword letters and mtimes (Dovecot's INTERNALDATE).
func populateRemote(t testing.TB, md string, n int) map[string]remoteMsg {
	folders := []struct{ remote, ours string }{{"", "INBOX"}, {"已发送", "Sent"}, {"Work/项目", "Work/项目"}, {"[Gmail]/All Mail", ""}}
	want := map[string]remoteMsg{}
	for _, f := range folders {
		dir := md
		if f.remote != "" {
			parts := strings.Split(f.remote, "/")
			for i, p := range parts {
				parts[i] = wire.EncodeMUTF7(p)
			}
			dir = filepath.Join(md, "."+strings.Join(parts, "."))
		}
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(dir, sub), 0o755)
		}
		os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte("0 $Label1\n1 项目\n2 project-x\n"), 0o644)
	}
	letters := []string{"", "S", "RS", "FS", "Sa", "Tc", "D", "Sac"}
	for i := 0; i < n; i++ {
		f := folders[i%len(folders)]
		dir := md
		if f.remote != "" {
			parts := strings.Split(f.remote, "/")
			for j, p := range parts {
				parts[j] = wire.EncodeMUTF7(p)
			}
			dir = filepath.Join(md, "."+strings.Join(parts, "."))
		}
		body := fmt.Sprintf("From: a%d@example.org\r\nTo: remote@example.net\r\nSubject: =?UTF-8?B?5rWL6K+V?= %d\r\nMessage-ID: <%d@example.org>\r\n\r\n%s\r\n", i, i, i, strings.Repeat("0123456789 中文 ", 50+i%100))
		fl := letters[i%len(letters)]
		name := filepath.Join(dir, "cur", fmt.Sprintf("%d.M%dP1.test:2,%s", 1600000000+i, i, fl))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		date := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		os.Chtimes(name, date, date)
		if f.ours == "" {
			continue
		}
		pn := ParseMaildirName(filepath.Base(name))
		var kws []string
		for _, l := range pn.Letters {
			kws = append(kws, map[int]string{0: "$Label1", 2: "project-x"}[l])
		}
		sum := sha256.Sum256([]byte(body))
		// "项目" is not an atom: IMAP keywords are ASCII (RFC 9051 §9), so
		// Dovecot does not offer it and we do not keep it.
		want[f.ours+" "+hex.EncodeToString(sum[:])] = remoteMsg{folder: f.ours, flags: pn.Flags, kws: strings.Join(clean(kws), ","), date: date}
	}
	return want
}

func clean(kws []string) []string {
	var out []string
	for _, k := range kws {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

var errKilled = errors.New("killed")

// pull runs one IMAP import over one connection; with killAfter > 0 it
// stops (like a kill) after that many messages, before their batch is
// stored.
func pull(t testing.TB, st store.Mail, acct store.AccountID, d *testutil.Dovecot, stateDir string, killAfter int) (Stats, error) {
	return pullN(t, st, acct, d, stateDir, killAfter, 1)
}

// pullN is pull with conc connections, each with its own Importer.
func pullN(t testing.TB, st store.Mail, acct store.AccountID, d *testutil.Dovecot, stateDir string, killAfter, conc int) (Stats, error) {
	ctx := context.Background()
	state, err := OpenState(ctx, stateDir, Local{st}, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	src := &IMAPSource{Addr: d.Addr, User: d.User, Password: d.Password, Security: IMAPPlain, StateFile: filepath.Join(stateDir, "imap.json"), Chunk: 300, Retries: 3, Backoff: 50 * time.Millisecond}
	var n atomic.Int64
	ims := make([]*Importer, conc)
	err = src.RunConcurrent(ctx, conc, func(i int) (func(Message) error, func() error) {
		im := &Importer{T: Local{st}, Account: acct, State: state}
		ims[i] = im
		return func(m Message) error {
			if killAfter > 0 && n.Add(1) > int64(killAfter) {
				return errKilled
			}
			return im.Add(ctx, m)
		}, func() error { return im.Flush(ctx) }
	})
	var s Stats
	for _, im := range ims {
		x := im.Stats()
		s.Read, s.Imported, s.Duplicates, s.Failed, s.Skipped, s.Bytes = s.Read+x.Read, s.Imported+x.Imported, s.Duplicates+x.Duplicates, s.Failed+x.Failed, s.Skipped+x.Skipped, s.Bytes+x.Bytes
	}
	return s, err
}

// TestIMAPImportFromDovecot pulls a Dovecot account: every message lands
// once, in the mapped folder, with its flags, keywords, INTERNALDATE and
// exact bytes; a run killed halfway resumes without duplicates, and a
// second run copies nothing.
func TestIMAPImportFromDovecot(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 400
	}
	var want map[string]remoteMsg
	d := testutil.StartDovecot(t, func(md string) { want = populateRemote(t, md, n) })
	st, a := openTestStore(t)
	stateDir := t.TempDir()
	s1, err := pull(t, st, a.ID, d, stateDir, n/3)
	if !errors.Is(err, errKilled) {
		t.Fatalf("first run: %v (dovecot log: %s)", err, readLog(d))
	}
	s, err := pullN(t, st, a.ID, d, stateDir, 0, 3)
	if err != nil {
		t.Fatalf("resumed run: %v (dovecot log: %s)", err, readLog(d))
	}
	// Each run did part; checkImported shows that no message is missing
	// or there twice.
	if s1.Imported == 0 || s.Imported == 0 || s1.Imported+s.Imported < len(want) {
		t.Errorf("killed run %+v, resumed run %+v: want both to import, together the %d messages", s1, s, len(want))
	}
	checkImported(t, st, a.ID, want)
	s, err = pull(t, st, a.ID, d, stateDir, 0)
	if err != nil || s.Imported != 0 || s.Read != 0 {
		t.Fatalf("second run: %+v %v", s, err)
	}
}

func readLog(d *testutil.Dovecot) string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

// checkImported compares the account with what the remote held.
func checkImported(t testing.TB, st store.Mail, acct store.AccountID, want map[string]remoteMsg) {
	ctx := context.Background()
	boxes, err := st.Mailboxes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, b := range boxes {
		var msgs []*store.Message
		st.ListMessages(ctx, acct, b.ID, store.ListOptions{}, func(m *store.Message) error { msgs = append(msgs, m); return nil })
		digests, err := Digests(ctx, st, acct, b.ID, 0)
		if err != nil || len(digests) != len(msgs) {
			t.Fatalf("%s: %d digests for %d messages: %v", b.Name, len(digests), len(msgs), err)
		}
		for i, m := range msgs {
			got++
			w, ok := want[b.Name+" "+digests[i]]
			if !ok {
				t.Errorf("%s UID %d: not on the remote (or bytes differ)", b.Name, m.UID)
				continue
			}
			if m.Flags.System != w.flags || strings.Join(m.Flags.Keywords, ",") != w.kws || !m.InternalDate.Equal(w.date) {
				t.Errorf("%s UID %d: flags %b %q date %v, want %b %q %v", b.Name, m.UID, m.Flags.System, m.Flags.Keywords, m.InternalDate, w.flags, w.kws, w.date)
			}
		}
	}
	if got != len(want) {
		t.Errorf("%d messages in the account, want %d", got, len(want))
	}
}
