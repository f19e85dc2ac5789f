package queue

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
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
