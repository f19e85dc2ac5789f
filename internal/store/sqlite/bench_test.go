package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchDeliver(b *testing.B, writers, accounts int) {
	s := openStore(b, b.TempDir())
	defer s.Close()
	accts := make([]store.Account, accounts)
	for i := range accts {
		accts[i] = newAccount(b, s, fmt.Sprintf("bench%d@example.com", i))
	}
	msg := append([]byte("From: a@example.com\r\nTo: bench@example.com\r\nSubject: bench\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrst\r\n"), 150)...)
	msg = msg[:10*1024]
	var n atomic.Int64
	b.SetBytes(int64(len(msg)))
	lat := make([][]time.Duration, writers)
	syncs0, full0, batches0 := s.blobs.Syncs(), s.fullCommits.Load(), s.batches.Load()
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		a := accts[w%accounts]
		go func() {
			defer wg.Done()
			for n.Add(1) <= int64(b.N) {
				t0 := time.Now()
				res, err := s.Deliver(context.Background(), store.Delivery{Data: msg, Targets: []store.Target{{Account: a.ID}}})
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || res[0].Err != nil {
					b.Error(err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	// fsyncs: the log's fdatasyncs and one WAL fsync per FULL commit.
	fsyncs := float64(s.blobs.Syncs() - syncs0 + s.fullCommits.Load() - full0)
	b.ReportMetric(fsyncs/float64(max(1, s.batches.Load()-batches0)), "fsyncs/commit")
	b.ReportMetric(fsyncs/float64(b.N), "fsyncs/msg")
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// CPU per message says what the machine could do when the wall-clock
	// figure is bound by other load or by the disk's fsync latency.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(s.batched.Load())/float64(max(1, s.batches.Load())), "reqs/commit")
}

// BenchmarkDeliver10KB measures durable deliveries (one fsync per group
// commit: the blob log's). Goal: >= 5000 msgs/s with 64 concurrent
// writers. The writers deliver to one INBOX, or each to its own account's
// INBOX. p50-µs at writers=1 is the latency of an idle store.
func BenchmarkDeliver10KB(b *testing.B) {
	for _, c := range []struct{ writers, accounts int }{{1, 1}, {20, 1}, {64, 1}, {64, 64}} {
		b.Run(fmt.Sprintf("writers=%d/accounts=%d", c.writers, c.accounts), func(b *testing.B) { benchDeliver(b, c.writers, c.accounts) })
	}
}

var (
	bigOnce  sync.Once
	bigDir   string
	bigStore *Store
	bigAcct  store.Account
	bigMbox  store.Mailbox
)

const bigN = 100_000

// bigMailbox builds, once per test binary, an INBOX of 100,000 messages,
// one in ten unseen.
func bigMailbox(b *testing.B) (*Store, store.Account, store.Mailbox) {
	bigOnce.Do(func() {
		var err error
		if bigDir, err = os.MkdirTemp("", "youju-bench-"); err != nil {
			b.Fatal(err)
		}
		bigStore = openStore(b, bigDir)
		bigAcct = newAccount(b, bigStore, "big@example.com")
		bigMbox = inbox(b, bigStore, bigAcct.ID)
		const batch = 10_000
		for i := 0; i < bigN; i += batch {
			datas := make([][]byte, batch)
			for j := range datas {
				datas[j] = testMessage(i + j)
			}
			bulkDeliver(b, bigStore, bigAcct.ID, bigMbox.ID, datas, func(j int) store.Flags {
				if (i+j)%10 == 0 {
					return store.Flags{}
				}
				return store.Flags{System: store.FlagSeen}
			})
		}
	})
	if bigStore == nil {
		b.Fatal("setup failed")
	}
	return bigStore, bigAcct, bigMbox
}

// BenchmarkListFlags100k lists UID and FLAGS of a 100,000-message mailbox
// (FETCH 1:* (UID FLAGS)). Goal: <= 50 ms/op.
func BenchmarkListFlags100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	b.Run("cache", func(b *testing.B) { benchList(b, s.ListMessages, a, mb) })
	b.Run("sqlite", func(b *testing.B) { benchList(b, s.listSQL, a, mb) })
}

type lister func(context.Context, store.AccountID, store.MailboxID, store.ListOptions, func(*store.Message) error) error

func benchList(b *testing.B, list lister, a store.Account, mb store.Mailbox) {
	ctx := context.Background()
	// Warm up: the first call loads the cache (about the cost of the
	// sqlite case), which a busy mailbox pays once.
	list(ctx, a.ID, mb.ID, store.ListOptions{}, func(*store.Message) error { return nil })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		err := list(ctx, a.ID, mb.ID, store.ListOptions{}, func(m *store.Message) error {
			n++
			return nil
		})
		if err != nil || n != bigN {
			b.Fatal(err, n)
		}
	}
}

// BenchmarkSearchUnseen100k is SEARCH UNSEEN in a 100,000-message mailbox
// with 10,000 unseen. Goal: <= 5 ms/op.
func BenchmarkSearchUnseen100k(b *testing.B) {
	s, a, mb := bigMailbox(b)
	b.Run("cache", func(b *testing.B) { benchSearch(b, s.Search, a, mb) })
	b.Run("sqlite", func(b *testing.B) { benchSearch(b, s.searchSQL, a, mb) })
}

type searcher func(context.Context, store.AccountID, store.MailboxID, store.Query) ([]store.UID, error)

func benchSearch(b *testing.B, search searcher, a store.Account, mb store.Mailbox) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		uids, err := search(ctx, a.ID, mb.ID, store.Query{FlagsUnset: store.FlagSeen})
		if err != nil || len(uids) != bigN/10 {
			b.Fatal(err, len(uids))
		}
	}
}
