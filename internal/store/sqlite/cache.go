package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/youju/youju/internal/store"
)

// The flag cache keeps, per mailbox, the small part of every message index
// row (UID, flags, MODSEQ, size, dates, blob) in memory, so that listing
// UID+FLAGS of a 100,000-message mailbox or SEARCH UNSEEN is a scan of a
// slice, not of SQLite rows. SQLite stays the source of truth: a mailbox
// is loaded from one read snapshot, and the writer applies each committed
// change to loaded mailboxes (under the cache lock) before it acknowledges.
// A load that raced with a change to its mailbox is used once and not kept.

// defaultCacheEntries bounds the cached messages of all mailboxes (about
// 64 bytes each); least recently used mailboxes are evicted beyond.
const defaultCacheEntries = 1 << 20

func cacheLimit(n int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return defaultCacheEntries
	}
	return n
}

// centry is one cached message.
type centry struct {
	uid      store.UID
	sys      store.SysFlags
	modseq   store.ModSeq
	size     int64
	idate    int64 // Unix ns
	sdate    int64
	keywords []string // never modified in place (replaced whole)
}

func toEntry(m *store.Message) centry {
	kw := m.Flags.Keywords
	return centry{uid: m.UID, sys: m.Flags.System, modseq: m.ModSeq, size: m.Size, idate: unixNano(m.InternalDate),
		sdate: unixNano(m.SaveDate), keywords: kw[:len(kw):len(kw)]}
}

func (e *centry) message() store.Message {
	return store.Message{UID: e.uid, ModSeq: e.modseq, Flags: store.Flags{System: e.sys, Keywords: e.keywords},
		InternalDate: fromNano(e.idate), SaveDate: fromNano(e.sdate), Size: e.size}
}

// mboxCache is one cached mailbox. Besides the entries it keeps, under
// the cache lock, what SELECT needs so that SELECT reads no entry: the
// UIDs as runs, the keywords with the number of messages carrying each,
// and a bound below which every message is seen (selectstate.go).
type mboxCache struct {
	acct    store.AccountID // the owner: loadBox read the mailbox row with it
	msgs    []centry        // ascending UID
	lastUse atomic.Int64
	runs    store.UIDSet       // the UIDs of msgs as runs
	kw      map[string]kwCount // lower-case keyword → its count
	// seenBelow: every message with a lower UID has \Seen. Readers raise
	// it under the read lock (all of them compute the same value from
	// the same entries), the writer lowers it under the write lock.
	seenBelow atomic.Uint32
}

// kwCount is how many cached messages carry a keyword, and the spelling
// the mailbox's FLAGS response gives (the first one seen).
type kwCount struct {
	spelling string
	n        int
}

func newMboxCache(msgs []centry) *mboxCache {
	b := &mboxCache{msgs: msgs}
	for i := range msgs {
		b.runs = b.runs.AppendRange(msgs[i].uid, msgs[i].uid)
		b.countKeywords(msgs[i].keywords, 1)
	}
	return b
}

// countKeywords adds d to the count of each of kws.
func (b *mboxCache) countKeywords(kws []string, d int) {
	for _, k := range kws {
		l := strings.ToLower(k)
		c, ok := b.kw[l]
		if !ok {
			if d < 0 {
				continue // cannot happen: counted when added
			}
			if b.kw == nil {
				b.kw = map[string]kwCount{}
			}
			c.spelling = k
		}
		if c.n += d; c.n <= 0 {
			delete(b.kw, l)
			continue
		}
		b.kw[l] = c
	}
}

// find returns the index of the first entry with UID >= uid.
func (b *mboxCache) find(uid store.UID) int {
	return sort.Search(len(b.msgs), func(i int) bool { return b.msgs[i].uid >= uid })
}

type flagCache struct {
	limit int
	clock atomic.Int64

	mu    sync.RWMutex
	boxes map[store.MailboxID]*mboxCache
	total int
	gen   map[store.MailboxID]uint64 // bumped on every change of a mailbox
	epoch uint64                     // bumped by reset
	// loading are the loads running, so that a second reader of the
	// mailbox waits for the first instead of reading it all again.
	loading map[store.MailboxID]*boxLoad
}

// boxLoad is a load of a mailbox in progress; kept is set before done is
// closed.
type boxLoad struct {
	done chan struct{}
	kept bool
}

func newFlagCache(limit int) *flagCache {
	return &flagCache{limit: limit, boxes: map[store.MailboxID]*mboxCache{}, gen: map[store.MailboxID]uint64{},
		loading: map[store.MailboxID]*boxLoad{}}
}

func (c *flagCache) enabled() bool { return c.limit > 0 }

// apply runs one committed change; the writer calls it.
func (c *flagCache) apply(f func(*flagCache)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// reset forgets everything (after a failed commit whose effect is unknown).
func (c *flagCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.boxes = map[store.MailboxID]*mboxCache{}
	c.total = 0
	c.epoch++
}

// The methods below run under c.mu (from apply).

func (c *flagCache) drop(id store.MailboxID) {
	c.gen[id]++
	if b := c.boxes[id]; b != nil {
		c.total -= len(b.msgs)
		delete(c.boxes, id)
	}
}

func (c *flagCache) add(id store.MailboxID, m *store.Message) {
	c.gen[id]++
	b := c.boxes[id]
	if b == nil {
		return
	}
	if n := len(b.msgs); n > 0 && b.msgs[n-1].uid >= m.UID {
		c.drop(id) // cannot happen (UIDs ascend); be safe
		return
	}
	e := toEntry(m)
	b.msgs = append(b.msgs, e)
	b.runs = b.runs.AppendRange(e.uid, e.uid)
	b.countKeywords(e.keywords, 1)
	c.total++
}

func (c *flagCache) update(id store.MailboxID, ms []store.Message) {
	c.gen[id]++
	b := c.boxes[id]
	if b == nil {
		return
	}
	for i := range ms {
		j := b.find(ms[i].UID)
		if j == len(b.msgs) || b.msgs[j].uid != ms[i].UID {
			c.drop(id)
			return
		}
		e, kw := &b.msgs[j], ms[i].Flags.Keywords
		if !slices.Equal(e.keywords, kw) {
			b.countKeywords(e.keywords, -1)
			b.countKeywords(kw, 1)
		}
		if ms[i].Flags.System&store.FlagSeen == 0 && uint32(e.uid) < b.seenBelow.Load() {
			b.seenBelow.Store(uint32(e.uid))
		}
		e.sys, e.keywords, e.modseq = ms[i].Flags.System, kw[:len(kw):len(kw)], ms[i].ModSeq
	}
}

func (c *flagCache) remove(id store.MailboxID, uids []store.UID) {
	c.gen[id]++
	b := c.boxes[id]
	if b == nil || len(uids) == 0 {
		return
	}
	// uids ascend: one merge pass. A new slice, so that readers holding
	// a copied chunk are unaffected.
	out := make([]centry, 0, len(b.msgs))
	var runs store.UIDSet
	k := 0
	for _, e := range b.msgs {
		for k < len(uids) && uids[k] < e.uid {
			k++
		}
		if k < len(uids) && uids[k] == e.uid {
			b.countKeywords(e.keywords, -1)
			continue
		}
		out = append(out, e)
		runs = runs.AppendRange(e.uid, e.uid)
	}
	c.total -= len(b.msgs) - len(out)
	b.msgs, b.runs = out, runs
}

// box returns the cached mailbox, loading it from one read snapshot if
// needed. The caller has checked that mbox belongs to acct. While a load
// of the mailbox runs, another caller waits for it; if that load raced
// with a change (and was not kept), the waiter loads again, since it may
// know of the change.
func (s *Store) box(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (*mboxCache, error) {
	c := s.cache
	for {
		c.mu.RLock()
		b, l := c.boxes[mbox], c.loading[mbox]
		c.mu.RUnlock()
		if b != nil {
			b.lastUse.Store(c.clock.Add(1))
			return b, nil
		}
		if l == nil {
			break
		}
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !l.kept {
			break
		}
	}
	return s.loadBox(ctx, acct, mbox)
}

// loadBox reads the mailbox into the cache.
func (s *Store) loadBox(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (b *mboxCache, err error) {
	c := s.cache
	l := &boxLoad{done: make(chan struct{})}
	c.mu.Lock()
	g0, e0 := c.gen[mbox], c.epoch
	owner := c.loading[mbox] == nil
	if owner {
		c.loading[mbox] = l
	}
	c.mu.Unlock()
	if owner {
		defer func() {
			c.mu.Lock()
			delete(c.loading, mbox)
			c.mu.Unlock()
			close(l.done)
		}()
	}
	msgs, err := s.readBox(ctx, acct, mbox)
	if err != nil {
		return nil, err
	}
	b = newMboxCache(msgs)
	b.acct = acct
	b.lastUse.Store(c.clock.Add(1))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[mbox] != g0 || c.epoch != e0 || c.boxes[mbox] != nil || len(msgs) > c.limit {
		return b, nil // raced with a change (or too big): use once
	}
	c.boxes[mbox] = b
	c.total += len(msgs)
	c.evict(mbox)
	l.kept = owner
	return b, nil
}

// boxQuery reads the cache entries of a mailbox (arguments: mailbox,
// account). One statement is one read snapshot.
const boxQuery = `SELECT ` + msgCols + ` FROM messages m WHERE ` + mboxScope + ` ORDER BY m.uid`

// readBox reads the cache entries of a mailbox. It talks to the driver
// directly (as readChunk): database/sql's per-row locking and conversions
// were a third of the load. The slice is sized from the mailbox's count
// once, and equal keyword lists share one slice (entries' keyword slices
// are never modified in place).
func (s *Store) readBox(ctx context.Context, acct store.AccountID, mbox store.MailboxID) ([]centry, error) {
	var hint int
	if err := s.rq.QueryRowContext(ctx, `SELECT messages FROM mailboxes WHERE id=? AND account_id=?`, mbox, acct).Scan(&hint); err != nil {
		return nil, notFound(err)
	}
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	msgs := make([]centry, 0, hint+hint/16+16) // room for deliveries meanwhile
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("sqlite: driver cannot query directly")
		}
		rows, err := qc.QueryContext(ctx, boxQuery, []driver.NamedValue{{Ordinal: 1, Value: int64(mbox)}, {Ordinal: 2, Value: int64(acct)}})
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]driver.Value, 7)
		kws := map[string][]string{}
		for {
			if err := rows.Next(vals); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			kw := keywordText(vals[3])
			vals[3] = nil
			var m store.Message
			if err := scanCols(&m, vals); err != nil {
				return err
			}
			if kw != "" {
				k, ok := kws[kw]
				if !ok {
					k = store.SplitKeywords(kw)
					kws[kw] = k
				}
				m.Flags.Keywords = k
			}
			msgs = append(msgs, toEntry(&m))
		}
	})
	return msgs, err
}

// keywordText is the keywords column as the driver gave it.
func keywordText(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// evict drops least recently used mailboxes (never keep) over the limit.
func (c *flagCache) evict(keep store.MailboxID) {
	for c.total > c.limit {
		var victim store.MailboxID
		oldest := int64(-1)
		for id, b := range c.boxes {
			if id == keep {
				continue
			}
			if u := b.lastUse.Load(); oldest < 0 || u < oldest {
				victim, oldest = id, u
			}
		}
		if oldest < 0 {
			return
		}
		c.total -= len(c.boxes[victim].msgs)
		delete(c.boxes, victim)
	}
}

// cacheChunk is how many entries a reader copies under the lock at once.
const cacheChunk = 4096

// listCached is ListMessages from the cache (Info not wanted).
func (s *Store) listCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt store.ListOptions, fn func(*store.Message) error) error {
	b, err := s.box(ctx, acct, mbox)
	if err != nil {
		return err
	}
	buf := make([]centry, 0, cacheChunk)
	next := store.UID(1)
	if len(opt.UIDs) > 0 {
		next = max(next, opt.UIDs[0].Lo)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Copy a chunk under the lock; the entries after it are found
		// again by UID, as the writer may have changed the slice.
		s.cache.mu.RLock()
		i := b.find(next)
		buf = append(buf[:0], b.msgs[i:min(i+cacheChunk, len(b.msgs))]...)
		s.cache.mu.RUnlock()
		// Retained messages of the range this chunk covers, read after
		// it (retain.go), merged in UID order.
		coveredHi := ^store.UID(0)
		if len(opt.UIDs) > 0 {
			coveredHi = opt.UIDs[len(opt.UIDs)-1].Hi
		}
		if len(buf) == cacheChunk {
			coveredHi = buf[len(buf)-1].uid
		}
		ret, err := s.retainedRange(ctx, acct, mbox, next, coveredHi, &opt)
		if err != nil {
			return err
		}
		j := 0
		for k := range buf {
			e := &buf[k]
			for ; j < len(ret) && ret[j].UID <= e.uid; j++ {
				if ret[j].UID < e.uid { // equal: expunged after the copy; given as present
					if err := fn(&ret[j]); err != nil {
						return err
					}
				}
			}
			if opt.UIDs != nil && !setContains(opt.UIDs, e.uid) {
				continue
			}
			if opt.ChangedSince > 0 && e.modseq <= opt.ChangedSince {
				continue
			}
			m := e.message()
			if err := fn(&m); err != nil {
				return err
			}
		}
		for ; j < len(ret); j++ {
			if err := fn(&ret[j]); err != nil {
				return err
			}
		}
		if len(buf) < cacheChunk {
			return nil
		}
		last := buf[len(buf)-1].uid
		if last == ^store.UID(0) || (len(opt.UIDs) > 0 && last >= opt.UIDs[len(opt.UIDs)-1].Hi) {
			return nil
		}
		next = last + 1
	}
}

// searchCached is Search from the cache (q.NeedInfo false): candidates are
// collected under the read lock, q.Match runs after it is released.
func (s *Store) searchCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) ([]store.UID, error) {
	b, err := s.box(ctx, acct, mbox)
	if err != nil {
		return nil, err
	}
	f := q.RowFilter()
	plain := q.RowOnly()
	var hits []centry
	var out []store.UID
	s.cache.mu.RLock()
	for i := range b.msgs {
		e := &b.msgs[i]
		if !f.Match(e.uid, e.sys, e.modseq, e.size, e.idate, e.sdate) {
			continue
		}
		if plain {
			out = append(out, e.uid)
		} else {
			hits = append(hits, *e)
		}
	}
	s.cache.mu.RUnlock()
	for i := range hits {
		m := hits[i].message()
		ok, err := q.MatchRest(&m)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m.UID)
		}
	}
	return out, nil
}
