package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/youju/youju/internal/store"
)

// testSelectState checks store.SelectState (and the backend's
// SelectStater) against a full listing (the generic path, which reads
// every message): the UID runs, the first unseen UID and the keywords,
// after deliveries, flag changes, expunges that leave gaps, an emptied
// mailbox, and a reopened store.
func testSelectState(t *testing.T, open Opener) {
	key := NewKey(t)
	s := open(t, key)
	defer func() { s.Close() }()
	a := newAccount(t, s, "sel@example.org")
	b := newAccount(t, s, "other@example.org")
	in := inbox(t, s, a.ID)
	check := func(step string) {
		t.Helper()
		for range 2 { // a backend may answer the second call otherwise (from a cache)
			checkSelectState(t, s, a.ID, in.ID, step)
		}
	}
	check("empty")
	for i := 1; i <= 60; i++ {
		f := store.Flags{System: store.FlagSeen}
		if i%7 == 3 {
			f.System = 0
		}
		switch i % 10 {
		case 0:
			f.Keywords = []string{"$Forwarded", fmt.Sprintf("$label%d", i%4)}
		case 5:
			f.Keywords = []string{"$forwarded"}
		}
		deliver(t, s, a.ID, in.ID, testMessage(i), f)
	}
	deliver(t, s, b.ID, inbox(t, s, b.ID).ID, testMessage(99), store.Flags{Keywords: []string{"OnlyOther"}})
	check("delivered")
	// Gaps, the first unseen message (3) among them.
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 2, Hi: 4}, {Lo: 20, Hi: 20}, {Lo: 30, Hi: 35}}); err != nil {
		t.Fatal(err)
	}
	check("expunged")
	storeFlags := func(set store.UIDSet, op store.FlagOp, f store.Flags) {
		t.Helper()
		if _, err := s.StoreFlags(ctx, a.ID, in.ID, set, op, f, 0); err != nil {
			t.Fatal(err)
		}
	}
	storeFlags(store.UIDSet{{Lo: 1, Hi: 1}}, store.FlagRemove, store.Flags{System: store.FlagSeen})
	check("first message unseen")
	storeFlags(store.UIDSet{{Lo: 1, Hi: 1}}, store.FlagAdd, store.Flags{System: store.FlagSeen})
	check("first message seen again")
	storeFlags(store.UIDSet{{Lo: 1, Hi: 60}}, store.FlagAdd, store.Flags{System: store.FlagSeen})
	check("all seen")
	storeFlags(store.UIDSet{{Lo: 50, Hi: 50}}, store.FlagRemove, store.Flags{System: store.FlagSeen})
	check("one unseen")
	// $label0 is on 20, 40, 60 (20 is gone); $label2 on 10, 30 (30 is gone).
	storeFlags(store.UIDSet{{Lo: 1, Hi: 60}}, store.FlagRemove, store.Flags{Keywords: []string{"$LABEL0"}})
	storeFlags(store.UIDSet{{Lo: 7, Hi: 7}}, store.FlagAdd, store.Flags{Keywords: []string{"Work"}})
	check("keywords changed")
	storeFlags(store.UIDSet{{Lo: 1, Hi: 60}}, store.FlagAdd, store.Flags{System: store.FlagDeleted})
	if _, err := s.Expunge(ctx, a.ID, in.ID, store.UIDSet{{Lo: 1, Hi: 59}}); err != nil {
		t.Fatal(err)
	}
	check("one left")
	if _, err := s.Expunge(ctx, a.ID, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	check("emptied")
	for i := range 5 {
		deliver(t, s, a.ID, in.ID, testMessage(100+i), store.Flags{System: store.SysFlags(i % 2), Keywords: []string{"New"}})
	}
	if _, err := s.Remove(ctx, a.ID, in.ID, store.UIDSet{{Lo: 63, Hi: 63}}); err != nil {
		t.Fatal(err)
	}
	check("refilled")
	s.Close()
	s = open(t, key)
	check("reopened")
	if _, err := store.SelectState(ctx, s, b.ID, in.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other account's mailbox: %v", err)
	}
}

// checkSelectState compares the backend's answer with the generic one.
func checkSelectState(t *testing.T, s store.Store, acct store.AccountID, mbox store.MailboxID, step string) {
	t.Helper()
	got, err := store.SelectState(ctx, s, acct, mbox)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	want, err := store.SelectState(ctx, struct{ store.Store }{s}, acct, mbox)
	if err != nil {
		t.Fatalf("%s: by scan: %v", step, err)
	}
	if !slices.Equal(got.UIDs, want.UIDs) || got.FirstUnseen != want.FirstUnseen {
		t.Fatalf("%s: UIDs %v first unseen %d, by scan %v %d", step, got.UIDs, got.FirstUnseen, want.UIDs, want.FirstUnseen)
	}
	// The spelling of a keyword used in two cases may be either.
	if !slices.EqualFunc(got.Keywords, want.Keywords, strings.EqualFold) {
		t.Fatalf("%s: keywords %q, by scan %q", step, got.Keywords, want.Keywords)
	}
	m, err := s.MailboxByID(ctx, acct, mbox)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != m.Messages {
		t.Fatalf("%s: %d UIDs, %d messages", step, got.Len(), m.Messages)
	}
}
