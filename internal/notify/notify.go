// Package notify fans "mailbox changed" events out to the sessions of an
// account (IMAP IDLE and selected mailboxes, POP3 does not need it). It is
// in-process; a multi-node store would publish through its database
// (PostgreSQL LISTEN/NOTIFY) into the same interface.
package notify

import (
	"sync"

	"github.com/youju/youju/internal/store"
)

// subBuffer is the channel size of a subscriber. Events only say "look
// again", so when the buffer is full a newer event is dropped: the
// subscriber still has at least one pending event and will look (and
// must take a full channel as news of any mailbox, as IMAP sessions do).
// Small, as every IMAP session has one (issue 12: 224 bytes instead of
// 640 with 16).
const subBuffer = 4

// Hub is a store.Notifier. The zero value is ready to use.
type Hub struct {
	mu   sync.Mutex
	subs map[store.AccountID]map[*sub]struct{}
}

type sub struct {
	ch   chan store.Event
	wake func() // nil unless SubscribeWake
}

var _ store.Notifier = (*Hub)(nil)

// Subscribe implements store.Notifier.
func (h *Hub) Subscribe(acct store.AccountID) (<-chan store.Event, func()) {
	return h.SubscribeWake(acct, nil)
}

// SubscribeWake is Subscribe that also calls wake (if not nil) after each
// event published for the account, queued or dropped. wake runs on the
// publisher's goroutine with the hub locked, so it must return at once and
// not call the hub. It lets an IMAP session in IDLE wait for its client
// alone and be interrupted by an event, instead of keeping a second
// goroutine to watch the channel (issue 12: memory per idle session).
func (h *Hub) SubscribeWake(acct store.AccountID, wake func()) (<-chan store.Event, func()) {
	s := &sub{ch: make(chan store.Event, subBuffer), wake: wake}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[store.AccountID]map[*sub]struct{})
	}
	m := h.subs[acct]
	if m == nil {
		m = make(map[*sub]struct{})
		h.subs[acct] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[acct], s)
			if len(h.subs[acct]) == 0 {
				delete(h.subs, acct)
			}
			h.mu.Unlock()
		})
	}
}

// Publish implements store.Notifier. It never blocks.
func (h *Hub) Publish(e store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[e.Account] {
		select {
		case s.ch <- e:
		default: // full: the subscriber has events pending already
		}
		if s.wake != nil {
			s.wake()
		}
	}
}

// Forward makes a waking subscription out of a plain one (a
// store.Notifier without SubscribeWake): a goroutine passes src's events
// on, dropping one when the returned channel is full (events are pending
// already, as in the hub), and calls wake after each. The returned
// cancel runs unsub and ends the goroutine; it may be called more than
// once.
func Forward(src <-chan store.Event, unsub func(), wake func()) (<-chan store.Event, func()) {
	fwd := make(chan store.Event, max(cap(src), 1))
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case e := <-src:
				select {
				case fwd <- e:
				default: // full: events are pending already
				}
				wake()
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return fwd, func() { once.Do(func() { unsub(); close(stop) }) }
}
