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
	armed.Store(true)
	ops := []*op{noop()}
	s.ops <- ops[0]
	if n := <-sizes; n != 1 {
		t.Fatalf("first commit took %d requests, want 1", n)
	}
	const k = 4
	for range k {
		o := noop()
		ops = append(ops, o)
		s.ops <- o
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
	for _, o := range ops {
		if err := <-o.err; err != nil {
			t.Fatal(err)
		}
	}
}
