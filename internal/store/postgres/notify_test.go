package postgres

import (
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// An IMAP session in IDLE subscribes with a wake function when the
// notifier offers one (imap/server park.go), and otherwise keeps a
// forwarding goroutine per session. The PostgreSQL store's notifier must
// offer it, so an idle session costs what it costs on SQLite, and the
// wake must come for another node's delivery.
func TestNotifierWakesForOtherNode(t *testing.T) {
	a, b := twoNodes(t)
	acct := nodeAccount(t, a)
	wn, ok := b.Notifier().(interface {
		SubscribeWake(store.AccountID, func()) (<-chan store.Event, func())
	})
	if !ok {
		t.Fatalf("%T has no SubscribeWake: every IDLE session needs a goroutine of its own", b.Notifier())
	}
	woken := make(chan struct{}, 16)
	events, cancel := wn.SubscribeWake(acct.ID, func() { woken <- struct{}{} })
	defer cancel()
	deliverTo(t, a, acct, "hello")
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake for a delivery on the other node")
	}
	select {
	case e := <-events:
		if e.Account != acct.ID {
			t.Errorf("event for account %v, want %v", e.Account, acct.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("woken, but no event")
	}
	// The subscriber is counted for resync, and no longer after cancel.
	if got := b.note.accounts(); len(got) != 1 || got[0] != acct.ID {
		t.Errorf("subscribed accounts %v, want [%v]", got, acct.ID)
	}
	cancel()
	if got := b.note.accounts(); len(got) != 0 {
		t.Errorf("subscribed accounts after cancel %v, want none", got)
	}
}
