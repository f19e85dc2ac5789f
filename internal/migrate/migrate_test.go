package migrate

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
	"github.com/youju/youju/internal/store/sqlite"
)

// source builds a SQLite store with two accounts, an app password, an
// alias, a nested mailbox, flags and keywords, a copy (shared bytes), an
// expunged message (UIDNEXT above the last UID) and n messages in INBOX.
func source(t *testing.T, n int) store.Store {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddDomain(ctx, "example.test"))
	must(s.SetAlias(ctx, store.Alias{Address: "info@example.test", Targets: []string{"alice@example.test"}}))
	alice, err := s.CreateAccount(ctx, store.Account{Address: "alice@example.test", PasswordHash: "$argon2id$x", SCRAM: "scram-a",
		AllowIMAP: true, AllowPOP3: true, AllowSMTP: true, QuotaBytes: 1 << 30})
	must(err)
	bob, err := s.CreateAccount(ctx, store.Account{Address: "bob@example.test", PasswordHash: "$argon2id$y", AllowIMAP: true})
	must(err)
	_, err = s.AddAppPassword(ctx, store.AppPassword{AccountID: alice.ID, Name: "phone", Hash: "$argon2id$p", Created: time.Unix(1700000000, 0)})
	must(err)
	var msgs []store.AppendMessage
	for i := range n {
		msgs = append(msgs, store.AppendMessage{
			Data:         []byte(fmt.Sprintf("From: x@remote.test\r\nSubject: 第%d封 message\r\n\r\nbody %d %s\r\n", i, i, strings.Repeat("z", i%7*1000))),
			InternalDate: time.Unix(1700000000+int64(i), 0),
			Flags:        store.Flags{System: store.SysFlags(i % 3), Keywords: map[bool][]string{true: {"$Important"}}[i%5 == 0]},
		})
	}
	res, err := s.AppendMessages(ctx, alice.ID, []store.Append{{Messages: msgs}})
	must(err)
	must(res[0].Err)
	inbox, err := s.Mailbox(ctx, alice.ID, "INBOX")
	must(err)
	work, err := s.CreateMailbox(ctx, alice.ID, "Work/项目", "")
	must(err)
	must(s.SetSubscribed(ctx, alice.ID, "Work/项目", true))
	_, err = s.Copy(ctx, alice.ID, inbox.ID, store.UIDSet{{Lo: 1, Hi: 3}}, work.ID)
	must(err)
	_, err = s.StoreFlags(ctx, alice.ID, inbox.ID, store.UIDSet{{Lo: 2, Hi: 2}}, store.FlagAdd, store.Flags{System: store.FlagDeleted}, 0)
	must(err)
	_, err = s.Expunge(ctx, alice.ID, inbox.ID, nil)
	must(err)
	_, err = s.StoreFlags(ctx, alice.ID, work.ID, store.UIDSet{{Lo: 1, Hi: 1}}, store.FlagAdd, store.Flags{Keywords: []string{"project"}}, 0)
	must(err)
	res, err = s.AppendMessages(ctx, bob.ID, []store.Append{{Messages: msgs[:1]}})
	must(err)
	must(res[0].Err)
	return s
}

func target(t *testing.T) *postgres.Store {
	return pgtest.Open(t, pgtest.NewSchema(t), postgres.Options{})
}

// TestCopyVerify: everything arrives with its UIDs, MODSEQs, flags and
// bytes, and Verify finds no difference; a change afterwards is found.
func TestCopyVerify(t *testing.T) {
	ctx := context.Background()
	src, dst := source(t, 450), target(t)
	var last Progress
	if err := Copy(ctx, Options{Source: src, Target: dst, Progress: func(p Progress) { last = p }}); err != nil {
		t.Fatal(err)
	}
	if last.Messages != last.TotalMessages || last.TotalMessages != 449+3+1 {
		t.Errorf("progress %+v", last)
	}
	r, err := Verify(ctx, src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 || r.Accounts != 2 || r.Messages != 453 {
		t.Fatalf("verify: %+v", r)
	}
	alice, _ := dst.Account(ctx, "alice@example.test")
	apps, _ := dst.AppPasswords(ctx, alice.ID)
	if len(apps) != 1 || apps[0].Hash != "$argon2id$p" {
		t.Errorf("app passwords: %+v", apps)
	}
	if al, err := dst.Alias(ctx, "info@example.test"); err != nil || len(al.Targets) != 1 {
		t.Errorf("alias: %+v %v", al, err)
	}
	// The expunged UID 2 is a tombstone for QRESYNC.
	inbox, _ := dst.Mailbox(ctx, alice.ID, "INBOX")
	if ch, err := dst.Changes(ctx, alice.ID, inbox.ID, 1); err != nil || !ch.Vanished.Contains(2) {
		t.Errorf("tombstones: %v %v", ch.Vanished, err)
	}
	// A new message after the move gets the next UID, not a used one.
	res, err := dst.AppendMessages(ctx, alice.ID, []store.Append{{Messages: []store.AppendMessage{{Data: []byte("Subject: new\r\n\r\nx\r\n")}}}})
	if err != nil || res[0].Err != nil || res[0].UIDs[0] != inbox.UIDNext || res[0].UIDValidity != inbox.UIDValidity {
		t.Fatalf("append after migrate: %+v %v (UIDNEXT was %d)", res, err, inbox.UIDNext)
	}
	// A mailbox created later never reuses a migrated UIDVALIDITY.
	mb, err := dst.CreateMailbox(ctx, alice.ID, "Later", "")
	if err != nil {
		t.Fatal(err)
	}
	boxes, _ := dst.Mailboxes(ctx, alice.ID)
	for _, b := range boxes {
		if b.ID != mb.ID && b.UIDValidity == mb.UIDValidity {
			t.Errorf("UIDVALIDITY %d reused", mb.UIDValidity)
		}
	}
	// Verify sees a difference.
	if _, err := dst.StoreFlags(ctx, alice.ID, inbox.ID, store.UIDSet{{Lo: 1, Hi: 1}}, store.FlagAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	r, err = Verify(ctx, src, dst, nil)
	if err != nil || len(r.Problems) == 0 {
		t.Errorf("verify after a change: %+v %v", r, err)
	}
}

// TestCopyResumes: a run cut after its first batch leaves a progress file;
// the next run copies the rest, nothing twice.
func TestCopyResumes(t *testing.T) {
	ctx := context.Background()
	src, dst := source(t, 450), target(t)
	stateFile := filepath.Join(t.TempDir(), "progress.json")
	cctx, cancel := context.WithCancel(ctx)
	err := Copy(cctx, Options{Source: src, Target: dst, StateFile: stateFile, Progress: func(p Progress) {
		cancel()
	}})
	cancel()
	if err == nil {
		t.Fatal("the cut run finished")
	}
	alice, err := dst.Account(ctx, "alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := dst.Mailbox(ctx, alice.ID, "INBOX")
	if inbox.Messages == 0 || inbox.Messages >= 449 {
		t.Fatalf("after the cut run INBOX has %d messages", inbox.Messages)
	}
	if err := Copy(ctx, Options{Source: src, Target: dst, StateFile: stateFile}); err != nil {
		t.Fatal(err)
	}
	r, err := Verify(ctx, src, dst, nil)
	if err != nil || len(r.Problems) > 0 || r.Messages != 453 {
		t.Fatalf("verify: %+v %v", r, err)
	}
	// A third run (progress file or not) changes nothing.
	if err := Copy(ctx, Options{Source: src, Target: dst}); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(ctx, src, dst, nil); err != nil || len(r.Problems) > 0 {
		t.Fatalf("verify after a repeated run: %+v %v", r, err)
	}
}
