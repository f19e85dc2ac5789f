package sqlite

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatchStaysOpenWhileCommitting holds the committer inside a commit
// and queues requests one after the other: the writer must take each one
// while the commit runs (the next batch stays open), and the next commit
// must carry them all. A writer that seals the next batch at once takes
// one and then waits for the committer with the others still queued.
func TestBatchStaysOpenWhileCommitting(t *testing.T) {
	var armed atomic.Bool
	release := make(chan struct{})
	sizes := make(chan int, 8)
	held := false // committer goroutine only
	s, err := Open(context.Background(), t.TempDir(), Options{Observer: Observer{Commit: func(_ time.Duration, n int) {
		if !armed.Load() {
			return
		}
		sizes <- n
		if !held {
			held = true
			<-release
		}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	noop := func() *op {
		return &op{ctx: context.Background(), fn: func(*wtx) error { return nil }, err: make(chan error, 1)}
	}
	// Each outcome is received as submit does (the committer waits for
	// that before its next batch).
	outcomes := make(chan error, 8)
	send := func(o *op) {
		s.ops <- o
		go func() { outcomes <- o.outcome() }()
	}
	armed.Store(true)
	ops := []*op{noop()}
	send(ops[0])
	if n := <-sizes; n != 1 {
		t.Fatalf("first commit took %d requests, want 1", n)
	}
	const k = 4
	for range k {
		o := noop()
		ops = append(ops, o)
		send(o)
		for deadline := time.Now().Add(10 * time.Second); len(s.ops) > 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer does not take requests while a commit runs (%d of %d taken)", len(ops)-2, k)
			}
		}
	}
	unblock()
	if n := <-sizes; n != k {
		t.Fatalf("the next commit took %d requests, want all %d", n, k)
	}
	for range ops {
		if err := <-outcomes; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitterWaitsForOutcomes: the committer takes no batch before the
// requesters of the last one have received their outcomes (it lets them
// run first; see the end of commit). A committer that goes on at once
// commits the second request while the first outcome lies unread.
func TestCommitterWaitsForOutcomes(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := &op{ctx: context.Background(), fn: func(*wtx) error { return nil }, err: make(chan error, 1)}
	s.ops <- first
	// Its outcome sent (the channel is buffered), the committer waits.
	for deadline := time.Now().Add(10 * time.Second); len(first.err) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request was not committed")
		}
	}
	second := make(chan error, 1)
	go func() { second <- s.do(context.Background(), nil, func(*wtx) error { return nil }) }()
	// The first outcome is not received yet: the second request must not
	// be committed. (Waiting longer cannot make a right committer fail; a
	// wrong one fails unless it is slower than this.)
	select {
	case err := <-second:
		t.Errorf("second request committed (%v) before the first outcome was received", err)
		second <- nil
	case <-time.After(200 * time.Millisecond):
	}
	if err := first.outcome(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}
