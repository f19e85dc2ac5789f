package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// TestMailCallsOverTheSocket drives the import/export calls through a
// real socket into a real store: a batch is stored with its flags and
// date, a too large message keeps its error's identity (the importer
// counts it and goes on), a quota refusal too, and the digests, list and
// bytes read back what was stored.
func TestMailCallsOverTheSocket(t *testing.T) {
	ctx := context.Background()
	st, c := serveStore(t, sqlite.Options{MaxMessageSize: 1000})
	st.AddDomain(ctx, "example.test")
	a, err := st.CreateAccount(ctx, store.Account{Address: "u@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	box, err := c.CreateMailbox(ctx, a.ID, "旧邮件/2020", "")
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	msg := []byte("Subject: hi\r\n\r\nbody\r\n")
	res, err := c.AppendMessages(ctx, a.ID, []store.Append{
		{Mailbox: box.ID, Messages: []store.AppendMessage{{Data: msg, InternalDate: date, Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"work"}}}}},
		{Mailbox: box.ID, Messages: []store.AppendMessage{{Data: []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 2000))}}},
	})
	if err != nil || len(res) != 2 || res[0].Err != nil || len(res[0].UIDs) != 1 {
		t.Fatalf("append: %+v %v", res, err)
	}
	if !errors.Is(res[1].Err, store.ErrTooLarge) {
		t.Fatalf("too large: %v, want ErrTooLarge", res[1].Err)
	}
	boxes, err := c.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "旧邮件/2020") {
		t.Fatalf("mailboxes: %q", names)
	}
	d, err := c.Digests(ctx, a.ID, box.ID, res[0].UIDs[0])
	sum := sha256.Sum256(msg)
	if err != nil || len(d) != 1 || d[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("digests: %v %v", d, err)
	}
	list, err := c.MessageList(ctx, a.ID, box.ID)
	if err != nil || len(list) != 1 || !list[0].InternalDate.Equal(date) || list[0].Flags.System != store.FlagSeen || len(list[0].Flags.Keywords) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	b, err := c.MessageBytes(ctx, a.ID, box.ID, list[0].UID)
	if err != nil || string(b) != string(msg) {
		t.Fatalf("bytes: %q %v", b, err)
	}
	a.QuotaBytes = 10
	st.UpdateAccount(ctx, a)
	res, err = c.AppendMessages(ctx, a.ID, []store.Append{{Mailbox: box.ID, Messages: []store.AppendMessage{{Data: msg}}}})
	if err != nil || !errors.Is(res[0].Err, store.ErrQuotaExceeded) {
		t.Fatalf("over quota: %+v %v", res, err)
	}
	if _, err := c.MessageBytes(ctx, a.ID, box.ID, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no such message: %v, want ErrNotFound", err)
	}
}
