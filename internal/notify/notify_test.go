package notify

import (
	"testing"

	"github.com/youju/youju/internal/store"
)

func TestPublishReachesOnlyTheAccount(t *testing.T) {
	var h Hub
	a, cancelA := h.Subscribe(1)
	defer cancelA()
	b, cancelB := h.Subscribe(2)
	defer cancelB()
	h.Publish(store.Event{Account: 1, Mailbox: 7, ModSeq: 3})
	select {
	case e := <-a:
		if e.Mailbox != 7 || e.ModSeq != 3 {
			t.Fatalf("got %+v", e)
		}
	default:
		t.Fatal("subscriber of account 1 got nothing")
	}
	select {
	case e := <-b:
		t.Fatalf("account 2 got %+v", e)
	default:
	}
}

func TestFullBufferNeverBlocksAndKeepsAPendingEvent(t *testing.T) {
	var h Hub
	ch, cancel := h.Subscribe(1)
	defer cancel()
	for i := 0; i < subBuffer*4; i++ {
		h.Publish(store.Event{Account: 1, Mailbox: 1, ModSeq: store.ModSeq(i)})
	}
	if len(ch) != subBuffer {
		t.Fatalf("pending = %d, want %d", len(ch), subBuffer)
	}
}

func TestCancelUnsubscribes(t *testing.T) {
	var h Hub
	ch, cancel := h.Subscribe(1)
	cancel()
	cancel() // idempotent
	h.Publish(store.Event{Account: 1})
	if len(ch) != 0 {
		t.Fatal("event after cancel")
	}
	if len(h.subs) != 0 {
		t.Fatal("subscription map not cleaned")
	}
}

func TestSubscribeWakeCallsAfterQueueing(t *testing.T) {
	var h Hub
	var ch <-chan store.Event
	woken := 0
	ch, cancel := h.SubscribeWake(1, func() {
		woken++
		if len(ch) == 0 {
			t.Error("woken before the event was queued")
		}
	})
	for i := 0; i < subBuffer+2; i++ {
		h.Publish(store.Event{Account: 1, Mailbox: 1})
	}
	h.Publish(store.Event{Account: 2, Mailbox: 1})
	if woken != subBuffer+2 {
		t.Fatalf("woken %d times, want %d (a dropped event wakes too)", woken, subBuffer+2)
	}
	cancel()
	h.Publish(store.Event{Account: 1, Mailbox: 1})
	if woken != subBuffer+2 {
		t.Fatal("woken after cancel")
	}
}
