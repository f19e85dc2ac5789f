package postgres

import (
	"cmp"
	"container/list"
	"context"
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
// wanted, or the mailbox is small, or it is a partial listing of a
// mailbox not cached in its current state).
func (s *Store) listCached(ctx context.Context, acct store.AccountID, mbox store.MailboxID, opt *store.ListOptions, fn func(*store.Message) error) (done bool, err error) {
	if s.cache == nil || opt.WithInfo {
		return false, nil
	}
	var modseq, uidnext, count int64
	if err := s.pool.QueryRow(ctx, `SELECT highestmodseq, uidnext, messages FROM mailboxes WHERE id=$1 AND account_id=$2`, mbox, acct).
		Scan(&modseq, &uidnext, &count); err != nil {
		return true, notFound(err)
	}
	if count < cmp.Or(s.opts.cacheMin, cacheMin) {
		return false, nil
	}
	b := s.cache.get(mbox, modseq, uidnext, count)
	if b == nil {
		if opt.UIDs != nil || opt.ChangedSince > 0 {
			return false, nil // not worth reading the whole mailbox for
		}
		if b, err = s.fillCache(ctx, acct, mbox); err != nil {
			return true, err
		}
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
