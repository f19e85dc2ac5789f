package postgres

import (
	"cmp"
	"container/list"
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
)

// The flag cache keeps the index rows (without Info) of big mailboxes in
// memory, so that listing them again (an IMAP client's FETCH 1:* (UID
// FLAGS) at every SELECT) costs one query of the mailbox row instead of
// reading 100,000 rows. It is valid across nodes without any message
// between them: every change to a mailbox's messages (delivery, append,
// flags, expunge, copy, move) bumps its HIGHESTMODSEQ in the same
// transaction (RFC 7162 §3.1.2 requires it of expunges too), and the
// cache is used only when the mailbox row still has the HIGHESTMODSEQ,
// UIDNEXT and message count of the snapshot the entry was read in.
// Retained (expunged, not yet told) rows are not cached: the purger drops
// them without a MODSEQ, so they are always read from the database (a
// short index scan, usually of nothing).

// Cache bounds: mailboxes smaller than cacheMin are read from SQL every
// time (cheap enough); at most DefaultCacheMessages rows are kept, the
// least recently used mailbox dropped first.
const (
	cacheMin             = 1000
	DefaultCacheMessages = 1_000_000
)

// centry is one cached message row.
type centry struct {
	uid          store.UID
	flags        store.SysFlags
	keywords     string
	modseq       store.ModSeq
	idate, sdate int64
	size         int64
}

// cbox is the cached rows of one mailbox and the state they are of.
type cbox struct {
	id      store.MailboxID
	modseq  int64
	uidnext int64
	count   int64
	rows    []centry // ascending UID

	// sel is SELECT's state of rows, computed once (rows never change
	// once cached): a SELECT of a cached 100k mailbox read every row.
	selOnce sync.Once
	sel     store.MailboxState
}

type flagCache struct {
	mu    sync.Mutex
	max   int
	total int
	lru   *list.List // of *cbox, most recent first
	boxes map[store.MailboxID]*list.Element
}

func newFlagCache(max int) *flagCache {
	return &flagCache{max: max, lru: list.New(), boxes: map[store.MailboxID]*list.Element{}}
}

// get returns the entry of mbox if it is of the given state.
func (c *flagCache) get(mbox store.MailboxID, modseq, uidnext, count int64) *cbox {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.boxes[mbox]
	if !ok {
		return nil
	}
	b := el.Value.(*cbox)
	if b.modseq != modseq || b.uidnext != uidnext || b.count != count {
		return nil
	}
	c.lru.MoveToFront(el)
	return b
}

// put stores b, replacing the mailbox's entry, and evicts to stay in max.
func (c *flagCache) put(b *cbox) {
	if len(b.rows) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.boxes[b.id]; ok {
		c.total -= len(el.Value.(*cbox).rows)
		c.lru.Remove(el)
	}
	c.boxes[b.id] = c.lru.PushFront(b)
	c.total += len(b.rows)
	for c.total > c.max {
		el := c.lru.Back()
		old := el.Value.(*cbox)
		c.lru.Remove(el)
		delete(c.boxes, old.id)
		c.total -= len(old.rows)
	}
}

// listCached serves ListMessages from the cache when it can: done is
// false when the caller must read from SQL (the cache is off, Info is
// wanted, or the mailbox is small, or it is a narrow listing of a
// mailbox not cached in its current state).
func (s *Store) listCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt *store.ListOptions, fn func(*store.Message) error) (done bool, err error) {
	if opt.WithInfo {
		return false, nil
	}
	// A listing of most of the mailbox (FETCH 1:* FLAGS) fills it.
	b, err := s.cachedBox(ctx, acct, mbox, func(uidnext int64) bool {
		return opt.ChangedSince == 0 && (opt.UIDs == nil || wideSet(opt.UIDs, uidnext))
	})
	if b == nil || err != nil {
		return err != nil, err
	}
	var retained []store.Message
	if opt.Retained {
		q := `SELECT ` + msgCols + ` FROM retained m WHERE ` + mboxScope + ` ORDER BY m.uid`
		if retained, err = s.readMessages(ctx, q, []any{mbox, acct}, false); err != nil {
			return true, err
		}
	}
	return true, serveCached(b.rows, retained, opt, fn)
}

// wideSet reports whether set spans at least half of the UIDs below
// uidnext: worth reading the whole mailbox into the cache for.
func wideSet(set store.UIDSet, uidnext int64) bool {
	return len(set) > 0 && 2*(int64(set[len(set)-1].Hi)-int64(set[0].Lo)+1) >= uidnext
}

// cachedBox returns the mailbox's cache entry if it is of the mailbox's
// current state, reading the mailbox into it when fill says so; nil when
// the cache is off, the mailbox small, or not cached and not to be
// filled. The mailbox row is read in any case: a missing mailbox (or one
// of another account) is store.ErrNotFound.
func (s *Store) cachedBox(ctx context.Context, acct store.AccountID, mbox store.MailboxID, fill func(uidnext int64) bool) (*cbox, error) {
	if s.cache == nil {
		return nil, nil
	}
	var modseq, uidnext, count int64
	if err := s.pool.QueryRow(ctx, `SELECT highestmodseq, uidnext, messages FROM mailboxes WHERE id=$1 AND account_id=$2`, mbox, acct).
		Scan(&modseq, &uidnext, &count); err != nil {
		return nil, notFound(err)
	}
	if count < cmp.Or(s.opts.cacheMin, cacheMin) {
		return nil, nil
	}
	if b := s.cache.get(mbox, modseq, uidnext, count); b != nil {
		return b, nil
	}
	if !fill(uidnext) {
		return nil, nil
	}
	return s.fillCache(ctx, acct, mbox)
}

// searchCached is Search from the cache (q.NeedInfo false) of a big
// mailbox, read into it when the search is of most of it (SEARCH UNSEEN
// after SELECT); done is
// false when the caller must search with SQL.
func (s *Store) searchCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, q store.Query) (uids []store.UID, done bool, err error) {
	if q.NeedInfo {
		return nil, false, nil
	}
	b, err := s.cachedBox(ctx, acct, mbox, func(uidnext int64) bool { return q.UIDs == nil || wideSet(q.UIDs, uidnext) })
	if b == nil || err != nil {
		return nil, err != nil, err
	}
	f, plain := q.RowFilter(), q.RowOnly()
	var out []store.UID
	for i := range b.rows { // rows are never changed once cached
		e := &b.rows[i]
		if !f.Match(e.uid, e.flags, e.modseq, e.size, e.idate, e.sdate) {
			continue
		}
		if plain {
			out = append(out, e.uid)
			continue
		}
		m := store.Message{UID: e.uid, ModSeq: e.modseq, Flags: store.Flags{System: e.flags, Keywords: store.SplitKeywords(e.keywords)},
			InternalDate: fromNano(e.idate), SaveDate: fromNano(e.sdate), Size: e.size}
		ok, err := q.MatchRest(&m)
		if err != nil {
			return nil, true, err
		}
		if ok {
			out = append(out, e.uid)
		}
	}
	return out, true, nil
}

// fillCache reads every row of the mailbox and its state in one snapshot.
func (s *Store) fillCache(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (*cbox, error) {
	b := &cbox{id: mbox}
	err := s.readTx(ctx, func(t pgx.Tx) error {
		if err := t.QueryRow(ctx, `SELECT highestmodseq, uidnext, messages FROM mailboxes WHERE id=$1 AND account_id=$2`, mbox, acct).
			Scan(&b.modseq, &b.uidnext, &b.count); err != nil {
			return notFound(err)
		}
		b.rows = make([]centry, 0, b.count)
		rows, err := t.Query(ctx, `SELECT uid, modseq, sysflags, keywords, internal_date, save_date, size
			FROM messages WHERE mailbox_id=$1 ORDER BY uid`, mbox)
		if err != nil {
			return err
		}
		var e centry
		var uid, flags int64
		_, err = pgx.ForEachRow(rows, []any{&uid, &e.modseq, &flags, &e.keywords, &e.idate, &e.sdate, &e.size}, func() error {
			e.uid, e.flags = store.UID(uid), store.SysFlags(flags)
			b.rows = append(b.rows, e)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cache.put(b)
	return b, nil
}

// serveCached calls fn for the cached rows and the retained ones, merged
// in UID order, that the options select.
func serveCached(rows []centry, retained []store.Message, opt *store.ListOptions, fn func(*store.Message) error) error {
	want := func(uid store.UID, modseq store.ModSeq) bool {
		return modseq > opt.ChangedSince && (opt.UIDs == nil || opt.UIDs.Contains(uid))
	}
	i := 0
	if opt.UIDs != nil && len(opt.UIDs) > 0 {
		lo := opt.UIDs[0].Lo
		i = sort.Search(len(rows), func(k int) bool { return rows[k].uid >= lo })
	}
	for ; i < len(rows) || len(retained) > 0; i++ {
		for len(retained) > 0 && (i >= len(rows) || retained[0].UID < rows[i].uid) {
			r := retained[0]
			retained = retained[1:]
			if want(r.UID, r.ModSeq) {
				if err := fn(&r); err != nil {
					return err
				}
			}
		}
		if i >= len(rows) {
			break
		}
		e := &rows[i]
		if !want(e.uid, e.modseq) {
			continue
		}
		// A new Message each time: a callback may keep the pointer.
		m := store.Message{UID: e.uid, ModSeq: e.modseq, Flags: store.Flags{System: e.flags, Keywords: store.SplitKeywords(e.keywords)},
			InternalDate: fromNano(e.idate), SaveDate: fromNano(e.sdate), Size: e.size}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

// selectCached is SelectState from the cache, when the mailbox is cached
// in its current state (it is never read into the cache for SELECT: the
// first SELECT after a start must not wait for 100,000 rows): one query
// of the mailbox row instead of a transaction of five.
func (s *Store) selectCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (st store.MailboxState, done bool, err error) {
	b, err := s.cachedBox(ctx, acct, mbox, func(int64) bool { return false })
	if b == nil || err != nil {
		return st, err != nil, err
	}
	return b.state(), true, nil
}

// cachedState is SelectState from the cache when the mailbox's entry is
// of the state given (the mailbox row's, read by the caller); ok is false
// otherwise.
func (s *Store) cachedState(m *store.Mailbox) (st store.MailboxState, ok bool) {
	if s.cache == nil {
		return st, false
	}
	b := s.cache.get(m.ID, int64(m.HighestModSeq), int64(m.UIDNext), int64(m.Messages))
	if b == nil {
		return st, false
	}
	return b.state(), true
}

// state returns SELECT's state of the entry.
func (b *cbox) state() store.MailboxState {
	b.selOnce.Do(b.selectState)
	st := b.sel
	// The caller may keep or change what it gets: copies.
	st.UIDs = slices.Clone(st.UIDs)
	st.Keywords = slices.Clone(st.Keywords)
	return st
}

// selectState computes b.sel from the rows.
func (b *cbox) selectState() {
	st := &b.sel
	var ks store.KeywordSet
	last := ""
	for i := range b.rows {
		e := &b.rows[i]
		st.UIDs = st.UIDs.AppendRange(e.uid, e.uid)
		if st.FirstUnseen == 0 && e.flags&store.FlagSeen == 0 {
			st.FirstUnseen = e.uid
		}
		if e.keywords != "" && e.keywords != last {
			ks.Add(store.SplitKeywords(e.keywords))
			last = e.keywords
		}
	}
	st.Keywords = ks.Sorted()
}
