package postgres

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/storetest"
)

// Of many sessions on two nodes opening INBOX read-write while messages
// arrive, exactly one sees each message as recent (RFC 3501 §2.3.2):
// SelectMailbox's claim is atomic across nodes (a claim computed from the
// floor its statement read would give some twice), whether the state
// comes from the cache (refilled by listings meanwhile) or the tables.
func TestSelectMailboxClaimedOnce(t *testing.T) {
	schema := schemaFor(t.TempDir())
	a := openSchema(t, schema, Options{cacheMin: 1})
	t.Cleanup(func() { a.Close() })
	b := openSchema(t, schema, Options{cacheMin: 1})
	t.Cleanup(func() { b.Close() })
	acct := newAccount(t, a, "claims@example.com")
	in, err := a.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const total = 40
	var mu sync.Mutex
	seen := make(map[store.UID]int)
	claim := func(n *Store) error {
		sel, err := n.SelectMailbox(ctx, acct.ID, "INBOX", store.RecentClaim)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, u := range storetest.RecentOf(sel) {
			seen[u]++
		}
		return nil
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	for i := range 8 {
		n := []*Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				if err := claim(n); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range total {
		n := []*Store{a, b}[i%2]
		if _, err := n.Deliver(ctx, store.Delivery{Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // a listing fills the node's cache: the next opens hit it
			if err := n.ListMessages(ctx, acct.ID, in.ID, store.ListOptions{}, func(*store.Message) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	if err := claim(a); err != nil {
		t.Fatal(err)
	}
	for u := store.UID(1); u <= total; u++ {
		if seen[u] != 1 {
			t.Errorf("UID %d recent to %d sessions, want 1", u, seen[u])
		}
	}
}

// A message delivered between the mailbox row and the state read from the
// tables is in the state: the session claims it too, unless another
// session claimed it meanwhile.
func TestSelectMailboxDeliveredBetween(t *testing.T) {
	schema := schemaFor(t.TempDir())
	var hook func()
	a := openSchema(t, schema, Options{afterSelectRow: func() {
		if h := hook; h != nil {
			hook = nil
			h()
		}
	}})
	t.Cleanup(func() { a.Close() })
	b := openSchema(t, schema, Options{})
	t.Cleanup(func() { b.Close() })
	acct := newAccount(t, a, "between@example.com")
	deliver := func(n int) {
		t.Helper()
		for range n {
			if _, err := b.Deliver(ctx, store.Delivery{Data: []byte("Subject: x\r\n\r\nx\r\n"), Targets: []store.Target{{Account: acct.ID}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	open := func(n *Store, want ...store.UID) {
		t.Helper()
		sel, err := n.SelectMailbox(ctx, acct.ID, "INBOX", store.RecentClaim)
		if err != nil {
			t.Fatal(err)
		}
		if got := storetest.RecentOf(sel); !slices.Equal(got, want) {
			t.Fatalf("recent %v, want %v", got, want)
		}
	}
	deliver(3)
	hook = func() { deliver(1) }
	open(a, 1, 2, 3, 4)
	open(b)
	// 5 and 6 are claimed by B between A's row (UIDNEXT 5) and A's
	// state; 7 comes after B's claim.
	hook = func() {
		deliver(2)
		open(b, 5, 6)
		deliver(1)
	}
	open(a, 7)
	open(b)
}
