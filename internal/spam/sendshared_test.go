package spam

import (
	"context"
	"testing"
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
		n := []*SendLimits{a, b}[i%2]
		if ok, why := n.Allow(9, []string{"x@y.example"}); !ok {
			t.Fatalf("message %d: %s", i, why)
		}
		n.Sent(9, []string{"x@y.example"})
	}
	if ok, _ := a.Allow(9, []string{"x@y.example"}); ok {
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
	l.Sent(5, []string{"a@x.example"})
	if ok, why := l.Allow(5, []string{"a@x.example"}); ok || why != "messages per hour" {
		t.Fatalf("own limit 1/hour after one: %v %q", ok, why)
	}
	l.Sent(6, []string{"a@x.example"})
	if ok, _ := l.Allow(6, []string{"a@x.example"}); !ok {
		t.Fatal("another account got the override")
	}
	if err := SetSharedSendLimit(ctx, st, 5, 0, 0); err != nil {
		t.Fatal(err)
	}
	if ok, why := l.Allow(5, []string{"a@x.example"}); !ok {
		t.Fatalf("after removing the own limit: %q", why)
	}
}
