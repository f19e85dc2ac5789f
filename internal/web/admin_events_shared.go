package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// The recent mail events of every node, through a store shared by
// several nodes (PostgreSQL): each node writes its events into
// store.StateStore in chunks under mailevents/NODE/SLOT, a ring of
// sharedSlots chunks of sharedChunk events (its last 1000), rewritten at
// most every sharedFlushEvery by a background flusher, never on the path
// of the mail being logged. The console reads its own node's ring from
// memory and the other nodes' chunks from the store. A node's id is new
// at each start; the chunks of a node gone expire after sharedEventTTL.

const (
	sharedEventPrefix = "mailevents/"
	sharedChunk       = 50
	sharedSlots       = eventLogSize / sharedChunk
	sharedFlushEvery  = 2 * time.Second
	sharedEventTTL    = 24 * time.Hour
	// sharedReadChunks bounds one read of the other nodes' chunks: 16
	// nodes' rings.
	sharedReadChunks = 16 * sharedSlots
)

// eventShare is the part of the ring waiting to go to the store; its
// fields are guarded by eventRing.mu.
type eventShare struct {
	st   store.StateStore
	node string
	cur  []Event   // the chunk being filled, rewritten at each flush
	slot int       // cur's slot
	full []shChunk // filled chunks not yet written (at most sharedSlots)
	// dirty: cur has events not yet written.
	dirty bool
}

type shChunk struct {
	slot   int
	events []Event
}

// Share makes the log write its events into st and read the other nodes'
// from it, until ctx ends (a last flush then). Call it once, when the
// store is shared by several nodes; without it the log is this node's.
func (l *EventLog) Share(ctx context.Context, st store.StateStore) {
	var b [6]byte
	rand.Read(b[:])
	sh := &eventShare{st: st, node: hex.EncodeToString(b[:])}
	l.ring.mu.Lock()
	l.ring.share = sh
	l.ring.mu.Unlock()
	go func() {
		t := time.NewTicker(sharedFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				l.Flush(fctx)
				cancel()
				return
			case <-t.C:
				l.Flush(ctx)
			}
		}
	}()
}

// addShared queues e for the store; r.mu is held. Only a shared log
// makes the Event at once (a node alone makes it when the console asks).
func (r *eventRing) addShared(e ringEntry) {
	sh := r.share
	if sh == nil {
		return
	}
	sh.cur = append(sh.cur, e.event())
	sh.dirty = true
	if len(sh.cur) == sharedChunk {
		sh.full = append(sh.full, shChunk{sh.slot, sh.cur})
		if len(sh.full) > sharedSlots {
			sh.full = sh.full[1:] // the store is behind: the oldest go
		}
		sh.slot = (sh.slot + 1) % sharedSlots
		sh.cur, sh.dirty = nil, false
	}
}

// Flush writes the events not yet in the shared store (nothing when the
// log is not shared).
func (l *EventLog) Flush(ctx context.Context) error {
	r := l.ring
	r.mu.Lock()
	sh := r.share
	if sh == nil {
		r.mu.Unlock()
		return nil
	}
	chunks := sh.full
	sh.full = nil
	if sh.dirty {
		chunks = append(chunks, shChunk{sh.slot, append([]Event(nil), sh.cur...)})
		sh.dirty = false
	}
	r.mu.Unlock()
	for _, c := range chunks {
		b, err := json.Marshal(c.events)
		if err == nil {
			_, err = sh.st.PutState(ctx, sh.key(c.slot), b, -1, sharedEventTTL)
		}
		if err != nil {
			return fmt.Errorf("sharing mail events: %w", err)
		}
	}
	return nil
}

func (sh *eventShare) key(slot int) string {
	return fmt.Sprintf("%s%s/%02d", sharedEventPrefix, sh.node, slot)
}

// RecentAll is Recent over every node sharing the store: this node's
// events from memory, the others' from the store, newest first.
func (l *EventLog) RecentAll(ctx context.Context, n int, event string) ([]Event, error) {
	out := l.Recent(n, event)
	l.ring.mu.Lock()
	sh := l.ring.share
	l.ring.mu.Unlock()
	if sh == nil {
		return out, nil
	}
	entries, err := sh.st.ListState(ctx, sharedEventPrefix, sharedReadChunks)
	if err != nil {
		return nil, fmt.Errorf("reading the other nodes' mail events: %w", err)
	}
	own := sharedEventPrefix + sh.node + "/"
	for _, e := range entries {
		if strings.HasPrefix(e.Key, own) {
			continue
		}
		var evs []Event
		if json.Unmarshal(e.Value, &evs) != nil {
			continue // not ours to fail on: another version's chunk
		}
		for _, ev := range evs {
			if event == "" || ev.Fields["event"] == event {
				out = append(out, ev)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out[:min(n, len(out))], nil
}
