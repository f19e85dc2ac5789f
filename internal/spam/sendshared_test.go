package spam

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
)

// TestSendLimitsShared runs the send limits with the counters in a store;
// two SendLimits on it (two nodes) count together.
func TestSendLimitsShared(t *testing.T) {
	st := openState(t)
	testSendLimits(t, func(l *SendLimits) *SendLimits {
		l.State = st
		l.OnError = func(err error) { t.Error(err) }
		return l
	})
	a := &SendLimits{MessagesHour: 4, State: st}
	b := &SendLimits{MessagesHour: 4, State: st}
	for i := range 4 {
		send(t, []*SendLimits{a, b}[i%2], 9, "x@y.example")
	}
	if why := refused(a, 9, "x@y.example"); why == "" {
		t.Fatal("5th message through node a passed after 2 through each node")
	}
}

// TestSharedSendLimitOverride: an account's own limit set in the shared
// store replaces the server's on every node, and goes away with 0/0.
func TestSharedSendLimitOverride(t *testing.T) {
	ctx := context.Background()
	st := openState(t)
	l := &SendLimits{State: st}
	if err := SetSharedSendLimit(ctx, st, 5, 1, 10); err != nil {
		t.Fatal(err)
	}
	send(t, l, 5, "a@x.example")
	if why := refused(l, 5, "a@x.example"); why != "messages per hour" {
		t.Fatalf("own limit 1/hour after one: %q", why)
	}
	send(t, l, 6, "a@x.example")
	if why := refused(l, 6, "a@x.example"); why != "" {
		t.Fatalf("another account got the override: %s", why)
	}
	if err := SetSharedSendLimit(ctx, st, 5, 0, 0); err != nil {
		t.Fatal(err)
	}
	if why := refused(l, 5, "a@x.example"); why != "" {
		t.Fatalf("after removing the own limit: %q", why)
	}
}

// TestSendLimitsConcurrent: many messages of one account at the same
// moment, half through each of two nodes: no more pass than the limit.
// Nodes are two SendLimits on one SQLite store, on two handles of one
// PostgreSQL schema, and (one node) the limits in memory.
func TestSendLimitsConcurrent(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		l := newConcurrentLimits(t, nil)
		concurrentSends(t, l, l)
	})
	t.Run("sqlite", func(t *testing.T) {
		st := openState(t)
		concurrentSends(t, newConcurrentLimits(t, st), newConcurrentLimits(t, st))
	})
	t.Run("postgres", func(t *testing.T) {
		schema := pgtest.NewSchema(t)
		a := pgtest.Open(t, schema, postgres.Options{})
		b := pgtest.Open(t, schema, postgres.Options{})
		concurrentSends(t, newConcurrentLimits(t, a), newConcurrentLimits(t, b))
	})
}

const concurrentLimit = 10

func newConcurrentLimits(t *testing.T, st store.StateStore) *SendLimits {
	l := &SendLimits{MessagesHour: concurrentLimit, MessagesDay: -1, NewRcptsHour: -1, NewRcptsDay: -1,
		OnError: func(err error) { t.Errorf("store: %v", err) }}
	if st != nil {
		l.State = st
	}
	return l
}

func concurrentSends(t *testing.T, a, b *SendLimits) {
	const senders = 40
	var granted, cancelled atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range senders {
		l := []*SendLimits{a, b}[i%2]
		wg.Go(func() {
			<-start
			rcpt := fmt.Sprintf("r%d@remote.example", i)
			g, ok, _ := l.Allow(1, []string{rcpt})
			switch {
			case !ok:
			case i%7 == 0 && cancelled.Add(1) == 1:
				// One delivery fails: its count is given back.
				l.Cancel(g)
			default:
				granted.Add(1)
				l.Sent(g, []string{rcpt})
			}
		})
	}
	close(start)
	wg.Wait()
	if n := granted.Load(); n > concurrentLimit {
		t.Fatalf("%d messages passed a limit of %d", n, concurrentLimit)
	}
	// Those refused come again: exactly the limit has gone out.
	for i := 0; granted.Load() < concurrentLimit && i < senders; i++ {
		rcpt := fmt.Sprintf("again%d@remote.example", i)
		if g, ok, _ := a.Allow(1, []string{rcpt}); ok {
			granted.Add(1)
			a.Sent(g, []string{rcpt})
		}
	}
	if why := refused(b, 1, "late@remote.example"); granted.Load() != concurrentLimit || why != "messages per hour" {
		t.Fatalf("%d messages went out, then %q; want %d and the hourly limit", granted.Load(), why, concurrentLimit)
	}
}
