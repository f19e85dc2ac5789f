package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

func openTestStore(t testing.TB) (*sqlite.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount(ctx, store.Account{Address: "u@example.com", AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	return st, a
}

func testMessages(n int) []Message {
	var out []Message
	folders := []string{"", "已发送", "Work/项目", "[Gmail]/All Mail"}
	for i := 0; i < n; i++ {
		out = append(out, Message{
			Folder:       folders[i%len(folders)],
			Data:         []byte(fmt.Sprintf("Subject: m%d\nMessage-ID: <%d@x>\n\nbody %d\n", i, i, i)),
			InternalDate: time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC),
			Flags:        store.Flags{System: store.FlagSeen, Keywords: []string{"work", "$Label1", "Work"}},
		})
	}
	return out
}

func runImport(t *testing.T, tg Target, acct store.AccountID, dir string, msgs []Message, batch int) Stats {
	t.Helper()
	ctx := context.Background()
	state, err := OpenState(ctx, dir, tg, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	im := &Importer{T: tg, Account: acct, State: state, BatchMessages: batch}
	for _, m := range msgs {
		if err := im.Add(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return im.Stats()
}

func TestImportIntoStore(t *testing.T) {
	ctx := context.Background()
	st, a := openTestStore(t)
	dir := t.TempDir()
	msgs := testMessages(40)
	s := runImport(t, Local{st}, a.ID, dir, msgs, 7)
	if s.Imported != 30 || s.Skipped != 10 || s.Duplicates != 0 {
		t.Fatalf("first run: %+v", s)
	}
	// A second run copies nothing.
	if s := runImport(t, Local{st}, a.ID, dir, msgs, 7); s.Imported != 0 || s.Duplicates != 30 {
		t.Fatalf("second run: %+v", s)
	}
	sent, err := st.Mailbox(ctx, a.ID, "Sent")
	if err != nil || sent.Messages != 10 {
		t.Fatalf("Sent: %+v %v", sent, err)
	}
	work, err := st.Mailbox(ctx, a.ID, "Work/项目")
	if err != nil || work.Messages != 10 {
		t.Fatalf("Work/项目: %+v %v", work, err)
	}
	// Flags, keywords, dates and bytes as given (CRLF form).
	var got []*store.Message
	st.ListMessages(ctx, a.ID, sent.ID, store.ListOptions{}, func(m *store.Message) error { got = append(got, m); return nil })
	m := got[0]
	if m.Flags.System != store.FlagSeen || strings.Join(m.Flags.Keywords, ",") != "$Label1,work" {
		t.Errorf("flags = %+v", m.Flags)
	}
	if !m.InternalDate.Equal(msgs[1].InternalDate) {
		t.Errorf("date = %v, want %v", m.InternalDate, msgs[1].InternalDate)
	}
	d, err := Digests(ctx, st, a.ID, sent.ID, 0)
	want := sha256.Sum256([]byte(strings.ReplaceAll(string(msgs[1].Data), "\n", "\r\n")))
	if err != nil || d[0] != hex.EncodeToString(want[:]) {
		t.Errorf("digest %v %v", d, err)
	}
	used, _, _ := st.Quota(ctx, a.ID)
	if used == 0 {
		t.Error("quota does not count imported mail")
	}
}

// crashTarget stores a batch, then fails as if the process died before
// the state file recorded it.
type crashTarget struct {
	Local
	after int
	n     int
}

var errCrash = errors.New("crash")

func (c *crashTarget) AppendMessages(ctx context.Context, acct store.AccountID, a []store.Append) ([]store.AppendResult, error) {
	c.n++
	res, err := c.Local.AppendMessages(ctx, acct, a)
	if c.n == c.after {
		return nil, errCrash
	}
	return res, err
}

func TestImportResumesAfterCrash(t *testing.T) {
	ctx := context.Background()
	st, a := openTestStore(t)
	dir := t.TempDir()
	msgs := testMessages(60)
	state, err := OpenState(ctx, dir, Local{st}, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	ct := &crashTarget{Local: Local{st}, after: 3}
	im := &Importer{T: ct, Account: a.ID, State: state, BatchMessages: 5}
	var crashed bool
	for _, m := range msgs {
		if err := im.Add(ctx, m); errors.Is(err, errCrash) {
			crashed = true
			break
		}
	}
	state.Close()
	if !crashed {
		t.Fatal("no crash")
	}
	// The next run settles the open batch against the store and imports
	// the rest, each message once.
	s := runImport(t, Local{st}, a.ID, dir, msgs, 5)
	if s.Imported+s.Duplicates != 45 {
		t.Fatalf("resume: %+v", s)
	}
	total := 0
	boxes, _ := st.Mailboxes(ctx, a.ID)
	for _, b := range boxes {
		total += b.Messages
	}
	if total != 45 {
		t.Fatalf("%d messages stored, want 45 (no duplicates, none lost)", total)
	}
}

func TestImportQuota(t *testing.T) {
	ctx := context.Background()
	st, a := openTestStore(t)
	a.QuotaBytes = 300
	if err := st.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	state, _ := OpenState(ctx, t.TempDir(), Local{st}, a.ID)
	defer state.Close()
	im := &Importer{T: Local{st}, Account: a.ID, State: state}
	var err error
	for _, m := range testMessages(20) {
		if err = im.Add(ctx, m); err != nil {
			break
		}
	}
	if err == nil {
		err = im.Flush(ctx)
	}
	if !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("err = %v, want quota exceeded", err)
	}
}

// TestStateSettlesEveryOpenBatch: a batch left open while another worker
// went on (its outcome unknown) is settled too, not only the last one.
func TestStateSettlesEveryOpenBatch(t *testing.T) {
	ctx := context.Background()
	st, a := openTestStore(t)
	inbox, _ := st.Mailbox(ctx, a.ID, "INBOX")
	data := []byte("Subject: stored\r\n\r\nx\r\n")
	if _, err := st.AppendMessages(ctx, a.ID, []store.Append{{Mailbox: inbox.ID, Messages: []store.AppendMessage{{Data: data}}}}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	stored := hex.EncodeToString(sum[:])
	lost := strings.Repeat("0", 64)
	other := strings.Repeat("1", 64)
	dir := t.TempDir()
	file := fmt.Sprintf("B\t%d\t1\tINBOX\nK\t%s\nK\t%s\nB\t%d\t1\tINBOX\nK\t%s\nE\n", inbox.ID, stored, lost, inbox.ID, other)
	if err := os.WriteFile(filepath.Join(dir, "state"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenState(ctx, dir, Local{st}, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Has("INBOX", stored) || s.Has("INBOX", lost) || !s.Has("INBOX", other) {
		t.Fatalf("stored %v, not stored %v, closed batch %v", s.Has("INBOX", stored), s.Has("INBOX", lost), s.Has("INBOX", other))
	}
}
