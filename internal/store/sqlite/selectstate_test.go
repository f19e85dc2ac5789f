package sqlite

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// stateByScan is the MailboxState from a full listing (the generic path).
func stateByScan(t *testing.T, s *Store, acct store.AccountID, mbox store.MailboxID) store.MailboxState {
	t.Helper()
	st, err := store.SelectState(ctx, struct{ store.Store }{s}, acct, mbox)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sameState(a, b store.MailboxState) bool {
	return slices.Equal(a.UIDs, b.UIDs) && a.FirstUnseen == b.FirstUnseen &&
		slices.EqualFunc(a.Keywords, b.Keywords, strings.EqualFold)
}

// TestSelectStatePaths drives a mailbox through random deliveries, flag
// changes and expunges and checks, after each, that both ways of the
// store to answer SELECT (the flag cache's kept state, and SQL for a
// mailbox not cached) give what a full listing gives.
func TestSelectStatePaths(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "paths@example.com")
	mb := inbox(t, s, a.ID)
	rng := rand.New(rand.NewPCG(1, 2))
	kws := []string{"$Forwarded", "$forwarded", "$Junk", "Work", "$label1"}
	var next store.UID = 1
	for step := range 300 {
		switch op := rng.IntN(10); {
		case op < 4 || next < 5:
			f := store.Flags{System: store.SysFlags(rng.IntN(32))}
			if rng.IntN(6) != 0 {
				f.System |= store.FlagSeen // mostly seen: the first unseen moves
			}
			if rng.IntN(3) == 0 {
				f.Keywords = []string{kws[rng.IntN(len(kws))]}
			}
			deliver(t, s, a.ID, mb.ID, testMessage(step), f)
			next++
		case op < 8:
			lo := store.UID(1 + rng.IntN(int(next)))
			f := store.Flags{System: store.SysFlags(1 << rng.IntN(5))}
			if rng.IntN(2) == 0 {
				f.Keywords = []string{kws[rng.IntN(len(kws))]}
			}
			if _, err := s.StoreFlags(ctx, a.ID, mb.ID, store.UIDSet{{Lo: lo, Hi: lo + store.UID(rng.IntN(4))}},
				store.FlagOp(rng.IntN(3)), f, 0); err != nil {
				t.Fatal(err)
			}
		default:
			lo := store.UID(1 + rng.IntN(int(next)))
			if _, err := s.Expunge(ctx, a.ID, mb.ID, store.UIDSet{{Lo: lo, Hi: lo + store.UID(rng.IntN(6))}}); err != nil {
				t.Fatal(err)
			}
		}
		want := stateByScan(t, s, a.ID, mb.ID)
		got, _, err := s.selectStateSQL(ctx, a.ID, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameState(got, want) {
			t.Fatalf("step %d: from SQL %+v, by scan %+v", step, got, want)
		}
		b, err := s.box(ctx, a.ID, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.cachedState(b); !sameState(got, want) {
			t.Fatalf("step %d: from the cache %+v, by scan %+v", step, got, want)
		}
		kw, err := s.MailboxKeywords(ctx, a.ID, mb.ID)
		if err != nil || !slices.EqualFunc(kw, want.Keywords, strings.EqualFold) {
			t.Fatalf("step %d: MailboxKeywords %q %v, want %q", step, kw, err, want.Keywords)
		}
		if step%50 == 0 {
			s.cache.reset() // load again from SQL, counts and runs rebuilt
		}
	}
}

// TestSelectStateSQLFallsBack checks the premise of the tombstone
// complement: when the tombstones outnumber the messages, or a gap has no
// tombstone (the message count disagrees), the UIDs are read instead.
func TestSelectStateSQLFallsBack(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "fallback@example.com")
	mb := inbox(t, s, a.ID)
	datas := make([][]byte, 3000)
	for i := range datas {
		datas[i] = testMessage(i)
	}
	bulkDeliver(t, s, a.ID, mb.ID, datas, func(i int) store.Flags { return store.Flags{System: store.FlagSeen} })
	// 2,990 tombstones, 10 messages: more gaps than messages + 1024.
	if _, err := s.Remove(ctx, a.ID, mb.ID, store.UIDSet{{Lo: 2, Hi: 1500}, {Lo: 1502, Hi: 2992}}); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		want := stateByScan(t, s, a.ID, mb.ID)
		got, n, err := s.selectStateSQL(ctx, a.ID, mb.ID)
		if err != nil || !sameState(got, want) || n != int64(want.Len()) {
			t.Fatalf("%s: %+v %d %v, by scan %+v", what, got, n, err, want)
		}
	}
	check("many tombstones")
	// A few gaps, one of them without its tombstone: the complement would
	// hold a UID that is not there, which the message count gives away.
	if _, err := s.Remove(ctx, a.ID, mb.ID, store.UIDSet{{Lo: 2995, Hi: 2996}}); err != nil {
		t.Fatal(err)
	}
	bulkDeliver(t, s, a.ID, mb.ID, datas, func(i int) store.Flags { return store.Flags{System: store.FlagSeen} })
	// Through the writer: it holds the one write connection.
	if err := s.do(ctx, nil, func(w *wtx) error {
		_, err := w.exec(`DELETE FROM tombstones WHERE mailbox_id=? AND uid < 2996`, mb.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check("missing tombstones")
}

// TestSelectStateQueryPlans checks that the cold SELECT's reads seek in
// indexes of one mailbox: the keyword lists by a loose scan of
// messages_keywords (a seek per distinct list, no scan of the messages).
func TestSelectStateQueryPlans(t *testing.T) {
	s := newTestStore(t)
	for _, c := range []struct {
		q    string
		args []any
		want []string
	}{
		{firstUnseenQuery, []any{1}, []string{"messages_unseen (mailbox_id=?)"}},
		{tombstonesQuery, []any{1, 10}, []string{"PRIMARY KEY (mailbox_id=? AND uid<?)"}},
		{presentQuery, []any{1}, []string{"PRIMARY KEY (mailbox_id=?)"}},
		{keywordsQuery, []any{1}, []string{"messages_keywords (mailbox_id=?)", "messages_keywords (mailbox_id=? AND keywords>?)"}},
	} {
		p := queryPlan(t, s.rdb, c.q, c.args...)
		for _, w := range c.want {
			if !strings.Contains(p, w) {
				t.Errorf("%s\nplan: %s\nwant: %s", c.q, p, w)
			}
		}
		if strings.Contains(p, "SCAN messages") {
			t.Errorf("%s\nplan scans the table: %s", c.q, p)
		}
	}
}

// TestBoxLoadsShared checks that readers of a mailbox whose cache is being
// loaded wait for that load instead of reading the mailbox again: they
// all get the one kept copy (a second load would be used once, not kept).
func TestBoxLoadsShared(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "shared@example.com")
	mb := inbox(t, s, a.ID)
	datas := make([][]byte, 2000)
	for i := range datas {
		datas[i] = testMessage(i)
	}
	bulkDeliver(t, s, a.ID, mb.ID, datas, func(i int) store.Flags { return store.Flags{} })
	s.cache.reset()
	got := make([]*mboxCache, 4)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			<-start
			b, err := s.box(ctx, a.ID, mb.ID)
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		})
	}
	close(start)
	wg.Wait()
	s.cache.mu.RLock()
	kept := s.cache.boxes[mb.ID]
	s.cache.mu.RUnlock()
	for i, b := range got {
		if b != kept || len(b.msgs) != len(datas) {
			t.Fatalf("reader %d got %p (%d entries), kept %p", i, b, len(b.msgs), kept)
		}
	}
}

// TestSelectStateWarmsCache checks that SelectState of a mailbox not
// cached answers from SQL and has the cache loaded behind it, so that the
// next SELECT is answered from the cache; and that Close waits for it.
func TestSelectStateWarmsCache(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	a := newAccount(t, s, "warm@example.com")
	mb := inbox(t, s, a.ID)
	for i := range 20 {
		deliver(t, s, a.ID, mb.ID, testMessage(i), store.Flags{Keywords: []string{"K"}})
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	if s.cachedBox(mb.ID) != nil {
		t.Fatal("cached after open")
	}
	st, err := s.SelectState(ctx, a.ID, mb.ID)
	if err != nil || st.Len() != 20 || !slices.Equal(st.Keywords, []string{"K"}) {
		t.Fatalf("%+v %v", st, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.cachedBox(mb.ID) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the cache was not loaded")
		}
		time.Sleep(time.Millisecond)
	}
	// A store closed at once waits for its background load.
	s2 := openStore(t, t.TempDir())
	a2 := newAccount(t, s2, "warm@example.com")
	if _, err := s2.SelectState(ctx, a2.ID, inbox(t, s2, a2.ID).ID); err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

// TestSelectStateOtherAccount: another account's mailbox is not found,
// whether the mailbox is cached (the cache's owner is checked) or not
// (the SQL path reads the mailbox row with the account).
func TestSelectStateOtherAccount(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "owner@example.com")
	b := newAccount(t, s, "other@example.com")
	mb := inbox(t, s, a.ID)
	deliver(t, s, a.ID, mb.ID, testMessage(1), store.Flags{})
	if _, err := s.SelectState(ctx, b.ID, mb.ID); err != store.ErrNotFound {
		t.Fatalf("not cached: %v, want ErrNotFound", err)
	}
	if _, err := s.box(ctx, a.ID, mb.ID); err != nil {
		t.Fatal(err)
	}
	if s.cachedBox(mb.ID) == nil {
		t.Fatal("not cached after box")
	}
	if _, err := s.SelectState(ctx, b.ID, mb.ID); err != store.ErrNotFound {
		t.Fatalf("cached: %v, want ErrNotFound", err)
	}
	if st, err := s.SelectState(ctx, a.ID, mb.ID); err != nil || st.Len() != 1 {
		t.Fatalf("owner: %+v %v", st, err)
	}
}
