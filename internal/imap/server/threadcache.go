package server

import (
	"sync"
	"unsafe"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// maxThreadCache bounds the bytes of thread data the server keeps (some
// 300 bytes a message, more with long References: 100k messages take
// about 30 MB): the data of the mailboxes used least recently goes first,
// and a mailbox larger than this is not kept at all.
var maxThreadCache = 96 << 20

// strBytes is about what the strings of m take.
func (m *threadMsg) strBytes() int {
	n := len(m.subject) + len(m.msgID) + len(m.inReply)
	for _, r := range m.refs {
		n += int(unsafe.Sizeof(r)) + len(r)
	}
	return n
}

// threadCache keeps, per mailbox, what THREAD needs of each message
// (threadMsg without its sequence number). The data of a UID never
// changes within a UIDVALIDITY (RFC 9051 §2.3.1.1: a UID is never
// reused, and a message is immutable), so nothing is ever invalidated:
// each THREAD reads from the store only the messages delivered since the
// last one. Reading and decoding the stored parse of 100k messages is
// most of the cost of a THREAD (Dovecot keeps a thread index on disk for
// the same reason); repeated THREAD commands, as webmail sends on every
// folder view, then cost the algorithm alone.
type threadCache struct {
	mu    sync.Mutex
	boxes map[threadBoxKey]*threadBox
	total int    // bytes in all boxes (threadBox.bytes)
	clock uint64 // for least-recently-used eviction
}

type threadBoxKey struct {
	acct        store.AccountID
	mbox        store.MailboxID
	uidValidity uint32
}

// threadBox holds the messages of one mailbox with UID <= covered that
// existed when they were read, ascending by UID. msgs is append-only:
// a reader keeps the slice it got, and appends never touch its elements.
type threadBox struct {
	covered  store.UID
	msgs     []threadMsg
	strBytes int
	used     uint64
}

// bytes is about what the box takes.
func (b *threadBox) bytes() int {
	return b.strBytes + cap(b.msgs)*int(unsafe.Sizeof(threadMsg{}))
}

// snapshot returns the cached messages of key and the highest UID they
// cover.
func (tc *threadCache) snapshot(key threadBoxKey) ([]threadMsg, store.UID) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.evict(key) // in case the bound was lowered
	b := tc.boxes[key]
	if b == nil {
		return nil, 0
	}
	tc.clock++
	b.used = tc.clock
	return b.msgs, b.covered
}

// add appends msgs, read for the UIDs after from up to covered, and
// returns all the box's messages. Another session may have added some
// meanwhile; only those past what the box covers are appended. It returns
// false when the box was evicted meanwhile, so that msgs would leave a
// gap: the caller then uses what it read without the cache.
func (tc *threadCache) add(key threadBoxKey, from, covered store.UID, msgs []threadMsg) ([]threadMsg, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	b := tc.boxes[key]
	switch {
	case b == nil && from == 0:
		if tc.boxes == nil {
			tc.boxes = make(map[threadBoxKey]*threadBox)
		}
		b = &threadBox{}
		tc.boxes[key] = b
	case b == nil || b.covered < from:
		return nil, false
	}
	tc.clock++
	b.used = tc.clock
	if covered <= b.covered {
		return b.msgs, true
	}
	i := 0
	for i < len(msgs) && msgs[i].uid <= b.covered {
		i++
	}
	tc.total -= b.bytes()
	for _, m := range msgs[i:] {
		b.strBytes += m.strBytes()
	}
	if len(b.msgs) == 0 {
		b.msgs = msgs[i:len(msgs):len(msgs)] // the first read: no copy
	} else {
		b.msgs = append(b.msgs, msgs[i:]...)
	}
	b.covered = covered
	tc.total += b.bytes()
	all := b.msgs
	tc.evict(key)
	return all, true
}

// evict drops the least recently used boxes while over the bound; keep
// is dropped last, and dropped too if it alone is over the bound.
func (tc *threadCache) evict(keep threadBoxKey) {
	for tc.total > maxThreadCache {
		victim, oldest := keep, ^uint64(0)
		for k, b := range tc.boxes {
			if k != keep && b.used < oldest {
				victim, oldest = k, b.used
			}
		}
		b := tc.boxes[victim]
		if b == nil { // keep is not cached and nothing else is
			tc.total = 0
			return
		}
		tc.total -= b.bytes()
		delete(tc.boxes, victim)
	}
}

// threadData returns what THREAD needs of every message of the session's
// view up to its highest UID, ascending by UID, from the cache and then
// from the store for what it does not hold yet.
func (c *conn) threadData() ([]threadMsg, error) {
	sel := c.sel
	key := threadBoxKey{acct: c.acct.ID, mbox: sel.mbox.ID, uidValidity: sel.mbox.UIDValidity}
	cached, covered := c.srv.threads.snapshot(key)
	last := sel.uids.maxUID()
	if covered >= last {
		return cached, nil
	}
	fresh, err := c.readThreadData(store.UIDSet{{Lo: covered + 1, Hi: last}}, int(sel.uids.len()-countUpTo(sel.uids, covered)))
	if err != nil {
		return nil, err
	}
	if all, ok := c.srv.threads.add(key, covered, last, fresh); ok {
		return all, nil
	}
	return append(cached[:len(cached):len(cached)], fresh...), nil
}

// readThreadData reads the thread data of the messages of uids from
// their stored parse (and, for parses that predate References, from
// their header: see oldReferences).
func (c *conn) readThreadData(uids store.UIDSet, sizeHint int) ([]threadMsg, error) {
	var td message.ThreadDecoder
	var arena strArena
	msgs := make([]threadMsg, 0, sizeHint)
	err := c.srv.Store.ListMessages(c.ctx, c.acct.ID, c.sel.mbox.ID, store.ListOptions{UIDs: uids, WithInfo: true}, func(m *store.Message) error {
		msgs = append(msgs, newThreadMsg(&td, &arena, m, 0))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := c.oldReferences(msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// countUpTo is how many UIDs of m are <= uid.
func countUpTo(m *uidMap, uid store.UID) uint32 {
	i := m.runOf(uid)
	switch {
	case i == len(m.runs):
		return m.n
	case uid < m.runs[i].lo:
		return m.runs[i].before
	}
	return m.runs[i].before + uint32(uid-m.runs[i].lo) + 1
}
