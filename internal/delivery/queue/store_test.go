package queue

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
)

// TestGroupSync: concurrent callers all return after an fsync that began
// after their call, and a failure sticks.
func TestGroupSync(t *testing.T) {
	g := groupSync{dir: t.TempDir()}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.sync(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if g.done != 20 {
		t.Errorf("done = %d, want 20", g.done)
	}
	bad := groupSync{dir: "/nonexistent/dir"}
	if bad.sync() == nil || bad.sync() == nil {
		t.Error("fsync of a missing directory succeeded")
	}
}

// TestBrokenStateListed: a message whose state cannot be parsed is listed
// (not hidden) and never removed by the runner.
func TestBrokenStateListed(t *testing.T) {
	w := newWorld()
	opt := testOptions(t, w)
	q, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, "a@youju.test", []string{"b@x.test"}, testMessage("a@youju.test", "b@x.test", "broken"))
	id := mustOne(t, q)
	if err := os.WriteFile(q.dir.statePath(id), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	all, err := q.List()
	if err != nil || len(all) != 1 || all[0].Broken == "" {
		t.Fatalf("list: %+v %v", all, err)
	}
	q.Start(context.Background())
	waitFor(t, "an attempt", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.due[id].After(time.Now())
	})
	q.Shutdown(context.Background())
	if _, err := q.dir.Data(id); err != nil {
		t.Errorf("message data gone: %v", err)
	}
}

// TestHoldInDir: a held message leaves the runner's schedule, survives
// the runner rewriting its state, is found by sender or account, and is
// due again once released.
func TestHoldInDir(t *testing.T) {
	w := newWorld()
	q, err := Open(testOptions(t, w))
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithAccount(context.Background(), "Owner@youju.test")
	if err := q.Enqueue(ctx, "alias@youju.test", []string{"b@x.test"}, testMessage("alias@youju.test", "b@x.test", "held"), delivery.DSN{}); err != nil {
		t.Fatal(err)
	}
	id := mustOne(t, q)
	if n, err := q.HoldFrom(context.Background(), "owner@YOUJU.test"); err != nil || n != 1 {
		t.Fatalf("hold from the account: %d %v", n, err)
	}
	if q.Len() != 0 {
		t.Fatal("a held message is still scheduled")
	}
	// The runner saving its state after an attempt keeps the hold.
	st, err := q.dir.State(id)
	if err != nil || !st.Held || st.Account != "Owner@youju.test" {
		t.Fatalf("state: %+v %v", st, err)
	}
	st.Held = false
	if err := q.store.Save(context.Background(), st); err != nil || !st.Held {
		t.Fatalf("save: %v held=%v", err, st.Held)
	}
	if _, _, err := q.store.Claim(context.Background(), id, time.Minute); !errors.Is(err, ErrHeld) {
		t.Errorf("claim of a held message: %v", err)
	}
	if n, _ := q.HoldFrom(context.Background(), "alias@youju.test"); n != 0 {
		t.Errorf("held twice: %d", n)
	}
	if err := q.Release(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Error("a released message is not scheduled")
	}
	if err := q.Hold(context.Background(), "0000-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("hold of an unknown id: %v", err)
	}
}
