package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/youju/youju/internal/store"
)

// listRetained lists with ListOptions.Retained (and opt's other fields).
func listRetained(t *testing.T, s store.Store, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions) []store.Message {
	t.Helper()
	opt.Retained = true
	var out []store.Message
	if err := s.ListMessages(ctx, acct, mbox, opt, func(m *store.Message) error {
		c := *m
		c.Info = bytes.Clone(m.Info)
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func uidsOf(msgs []store.Message) string {
	var u []store.UID
	for _, m := range msgs {
		u = append(u, m.UID)
	}
	return fmt.Sprint(u)
}

func readRetained(t *testing.T, s store.Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) []byte {
	t.Helper()
	r, err := s.OpenMessageWith(ctx, acct, mbox, uid, store.OpenOptions{Retained: true})
	if err != nil {
		t.Fatalf("OpenMessageWith(%d, Retained): %v", uid, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testRetainedAfterExpunge: an expunged message stays readable to the
// sessions that still see it (ListOptions.Retained, OpenOptions.Retained,
// CopyOptions.Retained) and counts nowhere else; reopening the store
// drops every retained message.
func testRetainedAfterExpunge(t *testing.T, open Opener) {
	key := NewKey(t)
	s := open(t, key)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	for i := 1; i <= 3; i++ {
		f := store.Flags{}
		if i == 2 {
			f = store.Flags{System: store.FlagDeleted | store.FlagSeen, Keywords: []string{"$label1"}}
		}
		deliver(t, s, a.ID, in.ID, testMessage(i), f)
	}
	before := listRetained(t, s, a.ID, in.ID, store.ListOptions{})
	if got, err := s.Expunge(ctx, a.ID, in.ID, nil); err != nil || fmt.Sprint(got) != "[2]" {
		t.Fatalf("Expunge = %v, %v", got, err)
	}
	arch, _ := s.Mailbox(ctx, a.ID, "Archive")
	if _, err := s.Move(ctx, a.ID, in.ID, store.UIDSet{{Lo: 3, Hi: 3}}, arch.ID); err != nil {
		t.Fatal(err)
	}
	afterExpunge, _ := s.Mailbox(ctx, a.ID, "INBOX")

	// Nowhere but where asked for.
	if got := fmt.Sprint(listUIDs(t, s, a.ID, in.ID)); got != "[1]" {
		t.Fatalf("ListMessages = %s, want [1]", got)
	}
	if got, _ := s.Search(ctx, a.ID, in.ID, store.Query{}); fmt.Sprint(got) != "[1]" {
		t.Fatalf("Search = %v", got)
	}
	if afterExpunge.Messages != 1 || afterExpunge.Unseen != 1 {
		t.Fatalf("INBOX counts %+v", afterExpunge)
	}
	ch, err := s.Changes(ctx, a.ID, in.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Changed) != 1 || ch.Changed[0].UID != 1 || fmt.Sprint(ch.Vanished) != "[{2 3}]" {
		t.Fatalf("Changes %+v", ch)
	}
	used, _, _ := s.Quota(ctx, a.ID)
	inboxNow, _ := s.Mailbox(ctx, a.ID, "INBOX")
	archNow, _ := s.Mailbox(ctx, a.ID, "Archive")
	if used != inboxNow.Size+archNow.Size || archNow.Messages != 1 {
		t.Fatalf("quota %d, INBOX %+v, Archive %+v", used, inboxNow, archNow)
	}
	if _, err := s.OpenMessage(ctx, a.ID, in.ID, 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenMessage of an expunged message: %v", err)
	}

	// Where asked for: as it was when expunged, in UID order.
	got := listRetained(t, s, a.ID, in.ID, store.ListOptions{WithInfo: true})
	if uidsOf(got) != "[1 2 3]" {
		t.Fatalf("Retained listing %s", uidsOf(got))
	}
	for i := range got {
		b := before[i]
		g := got[i]
		if g.ModSeq != b.ModSeq || g.Flags.System != b.Flags.System || fmt.Sprint(g.Flags.Keywords) != fmt.Sprint(b.Flags.Keywords) || g.Size != b.Size || len(g.Info) == 0 {
			t.Fatalf("retained %d: %+v, before expunge %+v", g.UID, g, b)
		}
	}
	if got := listRetained(t, s, a.ID, in.ID, store.ListOptions{UIDs: store.UIDSet{{Lo: 2, Hi: 2}}}); uidsOf(got) != "[2]" {
		t.Fatalf("Retained listing of 2: %s", uidsOf(got))
	}
	if got := listRetained(t, s, a.ID, in.ID, store.ListOptions{ChangedSince: before[1].ModSeq}); uidsOf(got) != "[3]" {
		t.Fatalf("Retained listing changed since %d: %s", before[1].ModSeq, uidsOf(got))
	}
	for uid := store.UID(2); uid <= 3; uid++ {
		if b := readRetained(t, s, a.ID, in.ID, uid); !bytes.Contains(b, []byte(fmt.Sprintf("Subject: test %d", uid))) {
			t.Fatalf("retained %d reads %q", uid, b)
		}
	}
	if _, err := s.OpenMessageWith(ctx, a.ID, in.ID, 9, store.OpenOptions{Retained: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenMessageWith of a UID that never was: %v", err)
	}

	// Copy: all or nothing with Exact; a retained message is copied.
	drafts, _ := s.Mailbox(ctx, a.ID, "Drafts")
	if _, err := s.CopyMessages(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 5}}, drafts.ID, store.CopyOptions{Retained: true, Exact: true}); !errors.Is(err, store.ErrExpunged) {
		t.Fatalf("Exact copy with UIDs that are gone: %v", err)
	}
	if n := len(listUIDs(t, s, a.ID, drafts.ID)); n != 0 {
		t.Fatalf("failed Exact copy left %d messages", n)
	}
	if _, err := s.CopyMessages(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 2}}, drafts.ID, store.CopyOptions{Exact: true}); !errors.Is(err, store.ErrExpunged) {
		t.Fatalf("Exact copy of a retained message without Retained: %v", err)
	}
	res, err := s.CopyMessages(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 2}}, drafts.ID, store.CopyOptions{Retained: true, Exact: true})
	if err != nil || len(res.Pairs) != 2 {
		t.Fatalf("copy of present and retained: %+v %v", res, err)
	}
	if b := readAll(t, s, a.ID, drafts.ID, res.Pairs[1].Dst); !bytes.Contains(b, []byte("Subject: test 2")) {
		t.Fatalf("copy of retained reads %q", b)
	}
	// Plain Copy and Move keep to present messages (POP3 and the rest).
	if res, err := s.Copy(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 3}}, drafts.ID); err != nil || len(res.Pairs) != 0 {
		t.Fatalf("Copy of retained only: %+v %v", res, err)
	}

	// Move of a retained message: copied, not expunged again (its
	// tombstone keeps its MODSEQ, so QRESYNC does not report it twice).
	junk, _ := s.Mailbox(ctx, a.ID, "Junk")
	res, err = s.CopyMessages(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 2}}, junk.ID, store.CopyOptions{Move: true, Retained: true, Exact: true})
	if err != nil || len(res.Pairs) != 2 {
		t.Fatalf("move of present and retained: %+v %v", res, err)
	}
	ch, err = s.Changes(ctx, a.ID, in.ID, afterExpunge.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ch.Vanished) != "[{1 1}]" {
		t.Fatalf("vanished after the move %v, want only 1", ch.Vanished)
	}
	if got := fmt.Sprint(listUIDs(t, s, a.ID, junk.ID)); got != "[1 2]" {
		t.Fatalf("Junk %s", got)
	}
	s.Close()

	// Reopened: no session survives, nothing is retained; copies stay.
	s = open(t, key)
	defer s.Close()
	if got := listRetained(t, s, a.ID, in.ID, store.ListOptions{}); len(got) != 0 {
		t.Fatalf("retained after reopen: %s", uidsOf(got))
	}
	if _, err := s.OpenMessageWith(ctx, a.ID, in.ID, 2, store.OpenOptions{Retained: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retained message opened after reopen: %v", err)
	}
	for _, m := range []store.MailboxID{drafts.ID, junk.ID} {
		for _, uid := range listUIDs(t, s, a.ID, m) {
			readAll(t, s, a.ID, m, uid)
		}
	}
	if b := readAll(t, s, a.ID, arch.ID, 1); !bytes.Contains(b, []byte("Subject: test 3")) {
		t.Fatalf("moved message reads %q", b)
	}
}
