package sqlite

import (
	"fmt"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

func collect(t *testing.T, list func(fn func(*store.Message) error) error) []store.Message {
	t.Helper()
	var ms []store.Message
	if err := list(func(m *store.Message) error {
		ms = append(ms, *m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ms
}

func sameMessages(a, b []store.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.UID != y.UID || x.ModSeq != y.ModSeq || !store.SameFlags(x.Flags, y.Flags) || x.Size != y.Size ||
			!x.InternalDate.Equal(y.InternalDate) || !x.SaveDate.Equal(y.SaveDate) {
			return false
		}
	}
	return true
}

// TestCacheMatchesIndex runs random changes, with readers loading the
// cache concurrently, and checks that the cache always agrees with SQLite.
func TestCacheMatchesIndex(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	arch, _ := s.Mailbox(ctx, a.ID, "Archive")
	rng := rand.New(rand.NewSource(1))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Search(ctx, a.ID, in.ID, store.Query{FlagsUnset: store.FlagSeen})
				s.ListMessages(ctx, a.ID, arch.ID, store.ListOptions{}, func(*store.Message) error { return nil })
			}
		}()
	}
	for i := 0; i < 300; i++ {
		uid := store.UID(rng.Intn(60) + 1)
		set := store.UIDSet{{Lo: uid, Hi: uid + store.UID(rng.Intn(5))}}
		var err error
		switch rng.Intn(7) {
		case 0, 1:
			_, err = s.Deliver(ctx, store.Delivery{Data: testMessage(i), Targets: []store.Target{{Account: a.ID, Mailbox: in.ID}}})
		case 2:
			_, err = s.StoreFlags(ctx, a.ID, in.ID, set, store.FlagOp(rng.Intn(3)), store.Flags{System: store.SysFlags(rng.Intn(32)), Keywords: []string{fmt.Sprint("k", rng.Intn(3))}}, 0)
		case 3:
			_, err = s.Expunge(ctx, a.ID, in.ID, set)
		case 4:
			_, err = s.Copy(ctx, a.ID, in.ID, set, arch.ID)
		case 5:
			_, err = s.Move(ctx, a.ID, in.ID, set, arch.ID)
		case 6:
			_, err = s.Remove(ctx, a.ID, arch.ID, set)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for _, mb := range []store.MailboxID{in.ID, arch.ID} {
		cached := collect(t, func(fn func(*store.Message) error) error {
			return s.ListMessages(ctx, a.ID, mb, store.ListOptions{}, fn)
		})
		indexed := collect(t, func(fn func(*store.Message) error) error {
			return s.listSQL(ctx, a.ID, mb, store.ListOptions{}, fn)
		})
		if len(indexed) == 0 || !sameMessages(cached, indexed) {
			t.Fatalf("mailbox %d: cache and index differ:\n%v\n%v", mb, cached, indexed)
		}
		for _, q := range []store.Query{{FlagsUnset: store.FlagSeen}, {FlagsSet: store.FlagDeleted | store.FlagFlagged}, {Keywords: []string{"K1"}}, {MinModSeq: 50, UIDs: store.UIDSet{{Lo: 10, Hi: 40}}}} {
			c, err1 := s.Search(ctx, a.ID, mb, q)
			x, err2 := s.searchSQL(ctx, a.ID, mb, q)
			if err1 != nil || err2 != nil || (len(c) > 0 || len(x) > 0) && !reflect.DeepEqual(c, x) {
				t.Fatalf("search %+v: cache %v, index %v (%v %v)", q, c, x, err1, err2)
			}
		}
	}
	if s.cache.boxes[in.ID] == nil {
		t.Fatal("INBOX was never cached: the test did not exercise the cache")
	}
}

// TestConcurrentDeliveries delivers from many goroutines (so batches hold
// several deliveries to the same mailboxes, mixed with flag changes) and
// checks UIDs, MODSEQs, counters, quota and cache against the index.
func TestConcurrentDeliveries(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "a@example.com")
	b := newAccount(t, s, "b@example.com")
	in := inbox(t, s, a.ID)
	// The first batch waits until the first request of every goroutine
	// is queued, so that group commit is exercised on every run.
	const writers = 16
	hold := func() {
		for deadline := time.Now().Add(10 * time.Second); len(s.ops) < writers-1 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		s.holdBatch.Store(nil)
	}
	s.holdBatch.Store(&hold)
	var wg sync.WaitGroup
	var mu sync.Mutex
	uids := map[store.UID]bool{}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // loads and reads the cache while deliveries change it
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
				s.Search(ctx, a.ID, in.ID, store.Query{FlagsUnset: store.FlagSeen})
			}
		}
	}()
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				res, err := s.Deliver(ctx, store.Delivery{Data: testMessage(g*100 + i), Targets: []store.Target{{Account: a.ID}, {Account: b.ID, Flags: store.Flags{System: store.FlagSeen}}}})
				if err != nil || res[0].Err != nil || res[1].Err != nil {
					t.Error(err, res)
					return
				}
				mu.Lock()
				if uids[res[0].UID] {
					t.Errorf("uid %d given twice", res[0].UID)
				}
				uids[res[0].UID] = true
				mu.Unlock()
				if i%5 == 0 {
					s.StoreFlags(ctx, a.ID, in.ID, store.UIDSet{{Lo: res[0].UID, Hi: res[0].UID}}, store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-readerDone
	if t.Failed() {
		return
	}
	if s.batched.Load() == s.batches.Load() {
		t.Fatal("no batch held more than one request: group commit not exercised")
	}
	for _, acct := range []store.AccountID{a.ID, b.ID} {
		mb := inbox(t, s, acct)
		var n, unseen, size int
		var maxUID store.UID
		s.rdb.QueryRow(`SELECT COUNT(*), COALESCE(SUM(sysflags & 1 = 0), 0), COALESCE(SUM(size), 0), COALESCE(MAX(uid), 0) FROM messages WHERE mailbox_id=?`, mb.ID).Scan(&n, &unseen, &size, &maxUID)
		if mb.Messages != 320 || n != 320 || mb.Unseen != unseen || mb.Size != int64(size) || mb.UIDNext != maxUID+1 || maxUID != 320 {
			t.Fatalf("account %d: mailbox %+v, index count %d unseen %d size %d max uid %d", acct, mb, n, unseen, size, maxUID)
		}
		if used, _, _ := s.Quota(ctx, acct); used != int64(size) {
			t.Fatalf("used %d, size %d", used, size)
		}
		var dupModSeq int
		s.rdb.QueryRow(`SELECT COUNT(*) FROM (SELECT modseq FROM messages WHERE mailbox_id=? GROUP BY modseq HAVING COUNT(*) > 1)`, mb.ID).Scan(&dupModSeq)
		if acct == b.ID && dupModSeq != 0 {
			t.Fatalf("%d MODSEQs shared by several deliveries", dupModSeq)
		}
		cached := collect(t, func(fn func(*store.Message) error) error {
			return s.ListMessages(ctx, acct, mb.ID, store.ListOptions{}, fn)
		})
		indexed := collect(t, func(fn func(*store.Message) error) error {
			return s.listSQL(ctx, acct, mb.ID, store.ListOptions{}, fn)
		})
		if !sameMessages(cached, indexed) {
			t.Fatal("cache and index differ")
		}
	}
	t.Logf("%d requests in %d commits", s.batched.Load(), s.batches.Load())
}

// TestSmallInfoListingLeavesCache: a page of a big mailbox listed with
// Info (the webmail's list) reads its rows from SQL and does not load the
// whole mailbox into the flag cache first; a listing of every message
// does load it; both give the same messages.
func TestSmallInfoListingLeavesCache(t *testing.T) {
	s := newTestStore(t)
	a := newAccount(t, s, "a@example.com")
	in := inbox(t, s, a.ID)
	datas := make([][]byte, 3*chunk)
	for i := range datas {
		datas[i] = testMessage(i)
	}
	bulkDeliver(t, s, a.ID, in.ID, datas, func(i int) store.Flags {
		if i%3 == 0 {
			return store.Flags{System: store.FlagSeen, Keywords: []string{"$Forwarded"}}
		}
		return store.Flags{}
	})
	page := store.UIDSet{{Lo: 5951, Hi: 6000}}
	list := func(set store.UIDSet) []store.Message {
		return collect(t, func(fn func(*store.Message) error) error {
			return s.ListMessages(ctx, a.ID, in.ID, store.ListOptions{UIDs: set, WithInfo: true}, fn)
		})
	}
	fromSQL := list(page)
	if s.cachedBox(in.ID) != nil {
		t.Fatal("listing a page of 50 loaded the flag cache of all 6000 messages")
	}
	if len(fromSQL) != 50 || len(fromSQL[0].Info) == 0 {
		t.Fatalf("page: %d messages", len(fromSQL))
	}
	list(nil)
	if s.cachedBox(in.ID) == nil {
		t.Fatal("listing every message did not load the flag cache")
	}
	if fromCache := list(page); !sameMessages(fromSQL, fromCache) {
		t.Errorf("the page differs read from SQL and with the cache:\n%v\n%v", fromSQL[0], fromCache[0])
	}
}
