package queue

import (
	"context"
	"strings"
	"testing"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/deliverytest"
	"github.com/youju/youju/internal/store"
)

// TestLocalHooksBounce: a bounce for a local sender lands in her mailbox
// through the Deliverer.
func TestLocalHooksBounce(t *testing.T) {
	ctx := context.Background()
	st := deliverytest.New()
	st.AddDomain(ctx, "youju.test")
	alice, err := st.CreateAccount(ctx, store.Account{Address: "alice@youju.test"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	s := newSink(t, false, false)
	s.setBehave(permFail)
	w.host("mx.remote.test", s.addr)
	w.mx("remote.test", "mx.remote.test")
	opt := testOptions(t, w)
	d := &delivery.Deliverer{Store: st, Resolver: &delivery.Resolver{Accounts: st}, Hostname: "mx.youju.test"}
	opt.LocalDeliver, opt.IsLocalDomain = LocalHooks(d)
	q := openQueue(t, opt)
	d.Queue = q
	enqueue(t, q, "alice@youju.test", []string{"nobody@remote.test"}, testMessage("alice@youju.test", "nobody@remote.test", "hooks"))
	waitFor(t, "bounce in alice's mailbox", func() bool { return len(st.For(alice.ID)) == 1 && q.Len() == 0 })
	got := string(st.For(alice.ID)[0])
	if !strings.Contains(got, "multipart/report") || !strings.Contains(got, "nobody@remote.test") {
		t.Errorf("stored bounce:\n%s", got)
	}
	if !opt.IsLocalDomain("youju.test") || opt.IsLocalDomain("remote.test") {
		t.Error("IsLocalDomain")
	}
}
