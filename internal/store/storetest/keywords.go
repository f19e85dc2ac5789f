package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/youju/youju/internal/store"
)

// testMailboxKeywords checks store.MailboxKeywords (and the backend's
// KeywordLister): the keywords of the mailbox's present messages, each once
// whatever its case, sorted; not those of other mailboxes or accounts, and
// following STORE, expunge and other accounts' use.
func testMailboxKeywords(t *testing.T, open Opener) {
	s := newStore(t, open)
	a := newAccount(t, s, "kw@example.org")
	b := newAccount(t, s, "other@example.org")
	in := inbox(t, s, a.ID)
	other, err := s.CreateMailbox(ctx, a.ID, "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	kws := func(acct store.AccountID, mbox store.MailboxID) []string {
		t.Helper()
		got, err := store.MailboxKeywords(ctx, s, acct, mbox)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := kws(a.ID, in.ID); len(got) != 0 {
		t.Fatalf("empty mailbox: %q", got)
	}
	deliver(t, s, a.ID, in.ID, testMessage(1), store.Flags{Keywords: []string{"$Forwarded", "$label1"}})
	deliver(t, s, a.ID, in.ID, testMessage(2), store.Flags{Keywords: []string{"$forwarded"}})
	deliver(t, s, a.ID, in.ID, testMessage(3), store.Flags{System: store.FlagSeen})
	deliver(t, s, a.ID, other.ID, testMessage(4), store.Flags{Keywords: []string{"OnlyOther"}})
	deliver(t, s, b.ID, inbox(t, s, b.ID).ID, testMessage(5), store.Flags{Keywords: []string{"$Junk"}})
	if got, want := kws(a.ID, in.ID), []string{"$Forwarded", "$label1"}; !slices.Equal(got, want) {
		t.Fatalf("keywords %q, want %q", got, want)
	}
	if _, err := s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: 3, Hi: 3}}, store.FlagAdd, store.Flags{Keywords: []string{"$Junk"}}, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := kws(a.ID, in.ID), []string{"$Forwarded", "$Junk", "$label1"}; !slices.Equal(got, want) {
		t.Fatalf("after STORE %q, want %q", got, want)
	}
	// The generic path (a backend without KeywordLister) agrees.
	plain := struct{ store.Store }{s}
	if got, err := store.MailboxKeywords(ctx, plain, a.ID, in.ID); err != nil || !slices.Equal(got, kws(a.ID, in.ID)) {
		t.Fatalf("by scan: %q %v", got, err)
	}
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 1}}); err != nil {
		t.Fatal(err)
	}
	// $label1 was only on message 1; $forwarded remains on message 2.
	if got := kws(a.ID, in.ID); len(got) != 2 || slices.Contains(got, "$label1") {
		t.Fatalf("after expunge %q", got)
	}
	// Another account's mailbox is not found, not listed.
	if _, err := store.MailboxKeywords(ctx, s, b.ID, in.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other account's mailbox: %v", err)
	}
}
