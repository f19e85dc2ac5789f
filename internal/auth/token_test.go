package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeShared is an in-memory store.ThrottleCounters shared by two
// Authenticators: two nodes of one store (the PostgreSQL one is tested in
// internal/store/postgres).
type fakeShared struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *fakeShared) AddFailures(_ context.Context, keys []string, _ time.Duration) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, len(keys))
	for i, k := range keys {
		f.n[k]++
		out[i] = f.n[k]
	}
	return out, nil
}

func (f *fakeShared) Failures(_ context.Context, keys []string, _ time.Duration) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = f.n[k]
	}
	return out, nil
}

func (f *fakeShared) ResetFailures(_ context.Context, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		delete(f.n, k)
	}
	return nil
}

// tokenCheck is a CheckToken lookup that knows one good token.
func tokenCheck(token string) func(context.Context) (bool, error) {
	return func(context.Context) (bool, error) { return token == "good", nil }
}

// TestCheckTokenThrottle: bad bearer tokens close an address's door
// after MaxFailuresPerIP distinct ones, on every node sharing the
// counters, and close it to password sign-ins too; a botnet sending bad
// tokens from many addresses never stops a good token elsewhere (no
// account-wide bucket is charged).
func TestCheckTokenThrottle(t *testing.T) {
	clock := newClock()
	shared := &fakeShared{n: map[string]int{}}
	opt := Options{MaxDelay: -1, MaxFailuresPerIP: 5, Shared: shared}
	nodeA := throttled(t, clock, officeAccounts(t), &fakeKnown{}, opt)
	nodeB := throttled(t, clock, officeAccounts(t), &fakeKnown{}, opt)
	ctx := context.Background()
	scanner := netip.MustParseAddr("192.0.2.7")
	for i := range 5 {
		if err := nodeA.CheckToken(ctx, scanner, fmt.Sprint("bad", i), tokenCheck(fmt.Sprint("bad", i))); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("bad token %d: %v", i, err)
		}
	}
	if err := nodeB.CheckToken(ctx, scanner, "good", tokenCheck("good")); !errors.Is(err, ErrThrottled) {
		t.Fatalf("the other node, a good token from the scanner: %v, want ErrThrottled", err)
	}
	if err := login(nodeB, "director", "director-pw", scanner); !errors.Is(err, ErrThrottled) {
		t.Fatalf("a password sign-in from the scanner: %v, want ErrThrottled", err)
	}
	for i := range 500 {
		bot := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		nodeA.CheckToken(ctx, bot, fmt.Sprint("guess", i), tokenCheck(fmt.Sprint("guess", i)))
	}
	if err := nodeA.CheckToken(ctx, netip.MustParseAddr("198.51.100.1"), "good", tokenCheck("good")); err != nil {
		t.Fatalf("a good token after a botnet's guesses: %v", err)
	}
	if err := nodeA.CheckToken(ctx, scanner, "x", func(context.Context) (bool, error) { t.Fatal("checked while throttled"); return false, nil }); !errors.Is(err, ErrThrottled) {
		t.Fatalf("throttled: %v", err)
	}
}
