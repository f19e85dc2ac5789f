package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// listAll returns the listing of a mailbox as "uid:flags:modseq" strings.
func listAll(t *testing.T, s *Store, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions) []string {
	t.Helper()
	var out []string
	if err := s.ListMessages(ctx, acct, mbox, opt, func(m *store.Message) error {
		out = append(out, fmt.Sprintf("%d:%d:%v:%d", m.UID, m.Flags.System, m.Flags.Keywords, m.ModSeq))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFlagCacheAcrossNodes checks that node A's cached listing follows
// every change node B makes (no message passes between them but the
// mailbox row), and that A's cached listing equals an uncached one.
func TestFlagCacheAcrossNodes(t *testing.T) {
	schema := schemaFor(t.Name() + t.TempDir())
	a := openSchema(t, schema, Options{cacheMin: 1, ExpungeRetention: time.Hour})
	b := openSchema(t, schema, Options{CacheMessages: -1})
	acct := newAccount(t, a, "cache@example.com")
	inbox, _ := a.Mailbox(ctx, acct.ID, "INBOX")
	for i := range 20 {
		if _, err := b.Deliver(ctx, store.Delivery{Data: []byte(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	same := func(step string, opt store.ListOptions) {
		t.Helper()
		got, want := listAll(t, a, acct.ID, inbox.ID, opt), listAll(t, b, acct.ID, inbox.ID, opt)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: cached listing\n%v\nwant\n%v", step, got, want)
		}
	}
	same("first", store.ListOptions{})
	if len(a.cache.boxes) != 1 {
		t.Fatal("nothing cached")
	}
	if _, err := b.StoreFlags(ctx, acct.ID, inbox.ID, store.UIDSet{{Lo: 3, Hi: 5}}, store.FlagAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"$Important"}}, 0); err != nil {
		t.Fatal(err)
	}
	same("after flags on the other node", store.ListOptions{})
	same("subset", store.ListOptions{UIDs: store.UIDSet{{Lo: 2, Hi: 4}, {Lo: 10, Hi: 12}}})
	same("changedsince", store.ListOptions{ChangedSince: 20})
	if _, err := b.Deliver(ctx, store.Delivery{Data: []byte("Subject: late\r\n\r\nx\r\n"), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
		t.Fatal(err)
	}
	same("after a delivery", store.ListOptions{})
	if _, err := b.Remove(ctx, acct.ID, inbox.ID, store.UIDSet{{Lo: 7, Hi: 8}}); err != nil {
		t.Fatal(err)
	}
	same("after an expunge", store.ListOptions{})
	same("with retained", store.ListOptions{Retained: true})
	got := listAll(t, a, acct.ID, inbox.ID, store.ListOptions{Retained: true})
	if len(got) != 21 {
		t.Fatalf("%d messages with retained, want 21", len(got))
	}
	// A move out and a copy in change the mailbox too.
	arch, _ := b.Mailbox(ctx, acct.ID, "Archive")
	if _, err := b.Move(ctx, acct.ID, inbox.ID, store.UIDSet{{Lo: 1, Hi: 1}}, arch.ID); err != nil {
		t.Fatal(err)
	}
	same("after a move", store.ListOptions{})
	if _, err := b.Copy(ctx, acct.ID, arch.ID, store.UIDSet{{Lo: 1, Hi: 1}}, inbox.ID); err != nil {
		t.Fatal(err)
	}
	same("after a copy", store.ListOptions{})
	// Another account's mailbox id is not found through the cache either.
	other := newAccount(t, b, "other@example.com")
	if err := a.ListMessages(ctx, other.ID, inbox.ID, store.ListOptions{}, func(*store.Message) error { return nil }); err == nil {
		t.Fatal("listing another account's mailbox succeeded")
	}
}

func TestFlagCacheEvicts(t *testing.T) {
	c := newFlagCache(10)
	c.put(&cbox{id: 1, rows: make([]centry, 6)})
	c.put(&cbox{id: 2, rows: make([]centry, 3)})
	if c.get(1, 0, 0, 0) == nil { // 1 is now the most recent
		t.Fatal("1 not cached")
	}
	c.put(&cbox{id: 3, rows: make([]centry, 4)})
	if c.get(2, 0, 0, 0) != nil || c.get(1, 0, 0, 0) == nil || c.get(3, 0, 0, 0) == nil || c.total != 10 {
		t.Fatalf("eviction: total %d", c.total)
	}
	c.put(&cbox{id: 4, rows: make([]centry, 11)}) // larger than the cache: not kept
	if c.get(4, 0, 0, 0) != nil {
		t.Fatal("an entry over the bound was kept")
	}
}

// TestSearchFromCache: SEARCH answered from the cache (node a) equals
// SEARCH by SQL (node b, no cache) after changes on either node, and a
// narrow search of a mailbox not cached does not read it into the cache.
func TestSearchFromCache(t *testing.T) {
	schema := schemaFor(t.Name() + t.TempDir())
	a := openSchema(t, schema, Options{cacheMin: 1})
	b := openSchema(t, schema, Options{CacheMessages: -1})
	acct := newAccount(t, a, "search@example.com")
	inbox, _ := a.Mailbox(ctx, acct.ID, "INBOX")
	for i := range 30 {
		if _, err := b.Deliver(ctx, store.Delivery{Data: []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*10))), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Search(ctx, acct.ID, inbox.ID, store.Query{UIDs: store.UIDSet{{Lo: 2, Hi: 3}}}); err != nil {
		t.Fatal(err)
	}
	if len(a.cache.boxes) != 0 {
		t.Fatal("a narrow search filled the cache")
	}
	queries := []store.Query{
		{FlagsUnset: store.FlagSeen},
		{FlagsSet: store.FlagSeen},
		{Keywords: []string{"$label1"}},
		{NotKeywords: []string{"$label1"}, FlagsUnset: store.FlagDeleted},
		{MinSize: 150, MaxSize: 250},
		{UIDs: store.UIDSet{{Lo: 1, Hi: 25}}, MinModSeq: 20},
		{UIDs: store.UIDSet{{Lo: 1, Hi: 40}}, Match: func(m *store.Message) (bool, error) { return m.UID%3 == 0, nil }},
	}
	same := func(step string) {
		t.Helper()
		for i, q := range queries {
			got, err := a.Search(ctx, acct.ID, inbox.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := b.Search(ctx, acct.ID, inbox.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: query %d: cached %v, SQL %v", step, i, got, want)
			}
		}
		// SELECT too, once the mailbox is cached.
		got, err := a.SelectState(ctx, acct.ID, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := b.SelectState(ctx, acct.ID, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: SelectState cached %+v, SQL %+v", step, got, want)
		}
	}
	same("first")
	if len(a.cache.boxes) != 1 {
		t.Fatal("SEARCH of the whole mailbox did not fill the cache")
	}
	if _, err := b.StoreFlags(ctx, acct.ID, inbox.ID, store.UIDSet{{Lo: 3, Hi: 9}}, store.FlagAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"$label1"}}, 0); err != nil {
		t.Fatal(err)
	}
	same("after flags on the other node")
	if _, err := b.Remove(ctx, acct.ID, inbox.ID, store.UIDSet{{Lo: 4, Hi: 5}}); err != nil {
		t.Fatal(err)
	}
	same("after an expunge")
	if _, _, err := a.selectCached(ctx, acct.ID, inbox.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.StoreFlags(ctx, acct.ID, inbox.ID, store.UIDSet{{Lo: 1, Hi: 2}}, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	if _, done, err := a.selectCached(ctx, acct.ID, inbox.ID); done || err != nil {
		t.Errorf("SELECT read a stale or new cache entry: %v %v", done, err)
	}
	same("after flags, cache stale")
	if _, _, err := a.searchCached(ctx, acct.ID+1000, inbox.ID, store.Query{}); err != store.ErrNotFound {
		t.Errorf("another account's mailbox: %v", err)
	}
}
