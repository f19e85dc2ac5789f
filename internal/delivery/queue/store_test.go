package queue

import (
	"sync"
	"testing"
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
