package smtpd

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/store"
)

type ctxKey struct{}

// TestLazyDeadline: the lazily timed context behaves as
// context.WithDeadline whichever of its methods is called first: it ends
// at its deadline (Done, Err, Cause, and a child's Done), with its parent,
// or when cancelled, carries the parent's values, and reports the earlier
// deadline.
func TestLazyDeadline(t *testing.T) {
	parent, pcancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	defer pcancel()
	wait := func(name string, ctx context.Context, want error) {
		t.Helper()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not done", name)
		}
		if err := ctx.Err(); !errors.Is(err, want) {
			t.Errorf("%s: Err %v, want %v", name, err, want)
		}
		if err := context.Cause(ctx); !errors.Is(err, want) {
			t.Errorf("%s: Cause %v, want %v", name, err, want)
		}
	}

	ctx, cancel := withLazyDeadline(parent, time.Now().Add(20*time.Millisecond))
	if ctx.Value(ctxKey{}) != "v" || ctx.Err() != nil {
		t.Fatalf("fresh: value %v, Err %v", ctx.Value(ctxKey{}), ctx.Err())
	}
	if ctx.(*lazyDeadline).real() != nil {
		t.Error("timer made before anything waited")
	}
	child, ccancel := context.WithCancel(ctx)
	wait("child at the deadline", child, context.DeadlineExceeded)
	wait("at the deadline", ctx, context.DeadlineExceeded)
	ccancel()
	cancel()

	// Past its deadline, never waited on: Err first, then Cause.
	ctx, cancel = withLazyDeadline(parent, time.Now().Add(-time.Second))
	if err := ctx.Err(); err != context.DeadlineExceeded {
		t.Errorf("past the deadline: Err %v", err)
	}
	wait("past the deadline", ctx, context.DeadlineExceeded)
	cancel()
	ctx, cancel = withLazyDeadline(parent, time.Now().Add(-time.Second))
	if err := context.Cause(ctx); err != context.DeadlineExceeded {
		t.Errorf("past the deadline: Cause first %v", err)
	}
	cancel()

	// Cancelled before anything waited, and after.
	ctx, cancel = withLazyDeadline(parent, time.Now().Add(time.Hour))
	cancel()
	wait("cancelled, then waited", ctx, context.Canceled)
	ctx, cancel = withLazyDeadline(parent, time.Now().Add(time.Hour))
	done := ctx.Done()
	cancel()
	<-done
	wait("waited, then cancelled", ctx, context.Canceled)

	// The earlier deadline is the parent's.
	early, ecancel := context.WithTimeout(parent, time.Minute)
	defer ecancel()
	ctx, cancel = withLazyDeadline(early, time.Now().Add(time.Hour))
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Minute {
		t.Errorf("deadline %v, want the parent's", d)
	}
	cancel()

	// The parent ends first.
	ctx, cancel = withLazyDeadline(parent, time.Now().Add(time.Hour))
	defer cancel()
	pcancel()
	if ctx.Err() != context.Canceled {
		t.Errorf("parent cancelled: Err %v", ctx.Err())
	}
	wait("parent cancelled", ctx, context.Canceled)
}

// hangingStore never answers an account lookup: it waits for the
// caller's context.
type hangingStore struct{ store.Store }

func (hangingStore) Account(ctx context.Context, key string) (store.Account, error) {
	<-ctx.Done()
	return store.Account{}, ctx.Err()
}

// TestRcptLookupBounded: a RCPT whose resolution waits on the store is
// still bounded by DataTimeout (its timer made lazily, when the lookup
// waits) and answered with a temporary failure.
func TestRcptLookupBounded(t *testing.T) {
	e := newEnv(t)
	s := e.server(Inbound)
	s.DataTimeout = 200 * time.Millisecond
	s.Deliverer = delivery.New(hangingStore{Store: e.st}, e.queue, s.Hostname, s.Logger)
	r := dialRaw(t, e.start(s, false))
	r.cmd("EHLO c", "250")
	r.cmd("MAIL FROM:<x@remote.net>", "250")
	start := time.Now()
	r.cmd("RCPT TO:<alice@example.com>", "451")
	if d := time.Since(start); d < 200*time.Millisecond || d > 10*time.Second {
		t.Errorf("RCPT answered after %v, want DataTimeout (200ms)", d)
	}
}
