package notify

import (
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

// Forward passes events on and wakes for each, keeps at most what its
// channel holds when nobody reads (events only say "look again"), and
// stops forwarding at cancel, which may run twice.
func TestForward(t *testing.T) {
	var h Hub
	src, unsub := h.Subscribe(1)
	woken := make(chan struct{}, 64)
	events, cancel := Forward(src, unsub, func() { woken <- struct{}{} })
	h.Publish(store.Event{Account: 1, Mailbox: 7})
	select {
	case e := <-events:
		if e.Mailbox != 7 {
			t.Errorf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event forwarded")
	}
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake")
	}
	for i := range 20 { // nobody reads: the forwarder drops, never blocks
		h.Publish(store.Event{Account: 1, Mailbox: store.MailboxID(i)})
		select {
		case <-woken:
		case <-time.After(5 * time.Second):
			t.Fatalf("no wake for event %d: the forwarder blocked on a full channel", i)
		}
	}
	if n := len(events); n == 0 || n > cap(events) {
		t.Errorf("%d events pending, want 1..%d", n, cap(events))
	}
	cancel()
	cancel()
	h.Publish(store.Event{Account: 1})
	select {
	case <-woken:
		t.Error("woken after cancel")
	case <-time.After(200 * time.Millisecond):
	}
}
