package importer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// memLeases is store.Leases in memory, shared by the two Jobs of the
// test as a database is by two nodes (internal/cli's two-node test uses
// PostgreSQL's).
type memLeases struct {
	mu sync.Mutex
	m  map[string]string
}

func (l *memLeases) AcquireLease(_ context.Context, name, holder string, _ time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.m[name]; ok && h != holder {
		return false, nil
	}
	l.m[name] = holder
	return true, nil
}

func (l *memLeases) RenewLease(_ context.Context, name, holder string, _ time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[name] == holder, nil
}

func (l *memLeases) ReleaseLease(_ context.Context, name, holder string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m[name] == holder {
		delete(l.m, name)
	}
	return nil
}

// TestJobsLeaseAcrossNodes: with a shared lease, a job running on one
// node refuses a second for the account on another; when it ends the
// lease is released and the other node may start one.
func TestJobsLeaseAcrossNodes(t *testing.T) {
	st, a := openTestStore(t)
	port, release := stallingRemote(t)
	leases := &memLeases{m: map[string]string{}}
	done := make(chan struct{}, 4)
	mk := func() *Jobs {
		return &Jobs{DataDir: t.TempDir(), Target: Local{Mail: st}, Security: IMAPPlain, Retries: 1, Backoff: time.Millisecond,
			Leases: leases, Notify: func(context.Context, store.AccountID, string, string) { done <- struct{}{} }}
	}
	nodeA, nodeB := mk(), mk()
	if err := nodeA.Start(a.ID, a.Address, "127.0.0.1", port, "old@qq.com", "x"); err != nil {
		t.Fatal(err)
	}
	if err := nodeB.Start(a.ID, a.Address, "127.0.0.1", port, "old@qq.com", "x"); !errors.Is(err, ErrJobRunning) {
		t.Fatalf("second job on node B: %v", err)
	}
	if _, ok := nodeB.Status(a.ID); ok {
		t.Fatal("node B reports a job it refused")
	}
	release()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the job on node A did not end")
	}
	// The lease is released just after the notice: wait for it.
	for i := 0; ; i++ {
		leases.mu.Lock()
		n := len(leases.m)
		leases.mu.Unlock()
		if n == 0 {
			break
		}
		if i > 1000 {
			t.Fatal("lease kept after the job ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := nodeB.Start(a.ID, a.Address, "127.0.0.1", 1, "old@qq.com", "x"); err != nil {
		t.Fatalf("node B after node A's job ended: %v", err)
	}
	<-done
}
