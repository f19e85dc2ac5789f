package postgres

import (
	"sync"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// A lease is exclusive across nodes, renewable by its holder only, and
// taken over once it expired.
func TestLeaseAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	ok, err := a.AcquireLease(ctx, "pop3:1", "A/1", time.Minute)
	if err != nil || !ok {
		t.Fatal("A could not take a free lease:", ok, err)
	}
	if ok, err := b.AcquireLease(ctx, "pop3:1", "B/7", time.Minute); err != nil || ok {
		t.Fatal("B took a lease A holds:", ok, err)
	}
	if ok, err := b.RenewLease(ctx, "pop3:1", "B/7", time.Minute); err != nil || ok {
		t.Fatal("B renewed a lease it does not hold:", ok, err)
	}
	if ok, err := a.AcquireLease(ctx, "pop3:2", "A/1", time.Minute); err != nil || !ok {
		t.Fatal("another name is another lease:", ok, err)
	}
	// B releasing what it does not hold changes nothing.
	if err := b.ReleaseLease(ctx, "pop3:1", "B/7"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.AcquireLease(ctx, "pop3:1", "B/7", time.Minute); ok {
		t.Fatal("a release by a non-holder freed the lease")
	}
	if err := a.ReleaseLease(ctx, "pop3:1", "A/1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.AcquireLease(ctx, "pop3:1", "B/7", time.Millisecond); err != nil || !ok {
		t.Fatal("B could not take a released lease:", ok, err)
	}
	// B's lease of 1 ms expires (node B died): A takes it over, and B's
	// renewal then fails.
	time.Sleep(20 * time.Millisecond)
	if ok, err := a.AcquireLease(ctx, "pop3:1", "A/2", time.Minute); err != nil || !ok {
		t.Fatal("A could not take over an expired lease:", ok, err)
	}
	if ok, err := b.RenewLease(ctx, "pop3:1", "B/7", time.Minute); err != nil || ok {
		t.Fatal("B renewed a lease taken over by A:", ok, err)
	}
	if ok, err := a.RenewLease(ctx, "pop3:1", "A/2", time.Minute); err != nil || !ok {
		t.Fatal("A could not renew its lease:", ok, err)
	}
}

// Of many sessions on two nodes claiming the same new messages at once,
// exactly one sees each as recent (RFC 3501 §2.3.2).
func TestRecentClaimedOnce(t *testing.T) {
	a, b := twoNodes(t)
	acct := newAccount(t, a, "r@example.com")
	in, err := a.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := b.RecentFloor(ctx, in.ID, 0, false); err != nil || f != 0 {
		t.Fatal("a mailbox never claimed has floor 0:", f, err)
	}
	const last = 40
	var mu sync.Mutex
	seen := make(map[store.UID]int)
	var wg sync.WaitGroup
	for i := range 16 {
		n := a
		if i%2 == 1 {
			n = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each session is told about the messages in steps, as new
			// ones arrive.
			for up := store.UID(i%5 + 1); up <= last; up += 5 {
				f, err := n.RecentFloor(ctx, in.ID, up, true)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for u := f + 1; u <= up; u++ {
					seen[u]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for u := store.UID(1); u <= last; u++ {
		if seen[u] > 1 {
			t.Errorf("UID %d recent to %d sessions", u, seen[u])
		}
	}
	if f, _ := a.RecentFloor(ctx, in.ID, 0, false); f != last {
		t.Errorf("floor %d, want %d", f, last)
	}
	// Looking (EXAMINE, STATUS) claims nothing; a lower claim keeps the
	// floor.
	if f, _ := b.RecentFloor(ctx, in.ID, last+5, false); f != last {
		t.Errorf("look: floor %d", f)
	}
	if f, _ := b.RecentFloor(ctx, in.ID, 3, true); f != last {
		t.Errorf("lower claim: floor %d", f)
	}
	if f, _ := b.RecentFloor(ctx, in.ID, 0, false); f != last {
		t.Errorf("lower claim moved the floor to %d", f)
	}
}

// Failure counters are shared: failures counted on A and on B add up,
// a reset forgets them, and a counter quiet for the window starts again.
func TestThrottleCountersShared(t *testing.T) {
	a, b := twoNodes(t)
	keys := []string{"net:192.0.2.1/32", "pair:192.0.2.1/32 u@example.com"}
	for range 2 {
		if _, err := a.AddFailures(ctx, keys, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.AddFailures(ctx, append(keys, keys[0]), time.Hour)
	if err != nil || len(got) != 3 || got[0] != 3 || got[1] != 3 || got[2] != 3 {
		t.Fatalf("after 2 failures on A and 1 on B: %v %v", got, err)
	}
	got, err = a.Failures(ctx, []string{keys[1], "net:other"}, time.Hour)
	if err != nil || got[0] != 3 || got[1] != 0 {
		t.Fatalf("failures: %v %v", got, err)
	}
	if err := b.ResetFailures(ctx, keys[1:]); err != nil {
		t.Fatal(err)
	}
	got, _ = a.Failures(ctx, keys, time.Hour)
	if got[0] != 3 || got[1] != 0 {
		t.Fatalf("after reset of the pair: %v", got)
	}
	time.Sleep(5 * time.Millisecond)
	if got, _ := a.Failures(ctx, keys, time.Millisecond); got[0] != 0 {
		t.Fatalf("a counter quiet for the window still counts: %v", got)
	}
	if got, _ := a.AddFailures(ctx, keys[:1], time.Millisecond); got[0] != 1 {
		t.Fatalf("a quiet counter did not start again: %v", got)
	}
}
