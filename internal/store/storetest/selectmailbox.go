package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/youju/youju/internal/store"
)

// testSelectMailbox checks a store.MailboxSelecter (skipped when the
// store has none) against the calls it stands for: the mailbox row as
// Mailbox gives it, the state as SelectState gives it, and \Recent (RFC
// 3501 §2.3.2): a claim takes what is above the floor and leaves nothing
// to the next claim, a look and IMAP4rev2's none move nothing. Each step
// is checked after a full listing too, which fills a backend's cache.
func testSelectMailbox(t *testing.T, open Opener) {
	s := newStore(t, open)
	ms, ok := store.As[store.MailboxSelecter](s)
	if !ok {
		t.Skip("the store has no MailboxSelecter")
	}
	a := newAccount(t, s, "open@example.org")
	b := newAccount(t, s, "else@example.org")
	if _, err := s.CreateMailbox(ctx, b.ID, "Theirs", ""); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Missing", "Theirs", "bad\x00name"} {
		if _, err := ms.SelectMailbox(ctx, a.ID, name, store.RecentClaim); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%q: %v, want ErrNotFound", name, err)
		}
	}
	in := inbox(t, s, a.ID)
	sel := func(step string, mode store.RecentMode) []store.UID {
		t.Helper()
		return checkSelection(t, s, ms, a.ID, "inbox", fmt.Sprintf("%s (mode %d)", step, mode), mode)
	}
	if got := sel("empty", store.RecentClaim); len(got) != 0 {
		t.Fatalf("empty: recent %v", got)
	}
	for i := 1; i <= 5; i++ {
		deliver(t, s, a.ID, in.ID, testMessage(i), store.Flags{System: store.SysFlags(i % 2), Keywords: []string{"K"}})
	}
	want := func(step string, got []store.UID, want ...store.UID) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: recent %v, want %v", step, got, want)
		}
	}
	for pass := range 2 { // the second after a full listing (a cache)
		step := fmt.Sprintf("delivered, pass %d", pass)
		want(step, sel(step, store.RecentNone))
		want(step, sel(step, store.RecentLook), 1, 2, 3, 4, 5)
		listUIDs(t, s, a.ID, in.ID)
	}
	want("first claim", sel("first claim", store.RecentClaim), 1, 2, 3, 4, 5)
	listUIDs(t, s, a.ID, in.ID)
	want("second claim", sel("second claim", store.RecentClaim))
	want("look after claims", sel("look after claims", store.RecentLook))
	// The last message expunged, then a new one: only that is recent.
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 5, Hi: 5}}); err != nil {
		t.Fatal(err)
	}
	want("last expunged", sel("last expunged", store.RecentClaim))
	deliver(t, s, a.ID, in.ID, testMessage(6), store.Flags{})
	deliver(t, s, a.ID, in.ID, testMessage(7), store.Flags{})
	listUIDs(t, s, a.ID, in.ID)
	want("new ones, look", sel("new ones, look", store.RecentLook), 6, 7)
	want("new ones, none", sel("new ones, none", store.RecentNone))
	want("new ones, claim", sel("new ones, claim", store.RecentClaim), 6, 7)
	want("claimed again", sel("claimed again", store.RecentClaim))
}

// checkSelection opens name with ms, compares the answer with Mailbox and
// SelectState, and returns the UIDs of the state that are recent.
func checkSelection(t *testing.T, s store.Store, ms store.MailboxSelecter, acct store.AccountID, name, step string, mode store.RecentMode) []store.UID {
	t.Helper()
	got, err := ms.SelectMailbox(ctx, acct, name, mode)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	m, err := s.Mailbox(ctx, acct, name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mailbox != m {
		t.Fatalf("%s: mailbox %+v, Mailbox gives %+v", step, got.Mailbox, m)
	}
	st, err := store.SelectState(ctx, s, acct, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.State.UIDs, st.UIDs) || got.State.FirstUnseen != st.FirstUnseen || !slices.Equal(got.State.Keywords, st.Keywords) {
		t.Fatalf("%s: state %+v, SelectState gives %+v", step, got.State, st)
	}
	if mode == store.RecentNone && got.Recent != nil {
		t.Fatalf("%s: recent %v without \\Recent", step, got.Recent)
	}
	return RecentOf(got)
}

// RecentOf lists the UIDs of the selection's state that are recent to it
// (its Recent ranges may span expunged UIDs, which are not listed).
func RecentOf(sel store.Selection) []store.UID {
	var out []store.UID
	for _, r := range sel.State.UIDs {
		for u := r.Lo; u <= r.Hi; u++ {
			if sel.Recent.Contains(u) {
				out = append(out, u)
			}
		}
	}
	return out
}
