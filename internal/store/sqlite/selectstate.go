package sqlite

import (
	"context"
	"database/sql"
	"sort"
	"strings"
	"sync"

	"github.com/youju/youju/internal/store"
)

// SELECT of a big mailbox must not cost what its messages cost. A cached
// mailbox keeps what SELECT needs beside its entries (UID runs, keyword
// counts, a bound below which every message is seen; cache.go), so a warm
// SELECT reads a few ranges. A mailbox not cached (the first SELECT after
// a start) is answered from SQL with a few index seeks, and its cache is
// loaded in the background for the commands that follow.

// SelectState implements store.SelectStater.
func (s *Store) SelectState(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (store.MailboxState, error) {
	// A commit the caller saw (its HIGHESTMODSEQ) must be in the cache
	// before the cache answers: wait for the committer to apply it.
	s.applyMu.RLock()
	s.applyMu.RUnlock() //nolint:staticcheck // a barrier, not a section
	// A cached mailbox is answered without asking SQLite: the cache knows
	// the owner (it was loaded with the mailbox row of acct), and the SQL
	// path below reads the row with acct too, so no separate ownership
	// query is needed.
	if b := s.cachedBox(mbox); b != nil && b.acct == acct {
		return s.cachedState(b), nil
	}
	st, n, err := s.selectStateSQL(ctx, acct, mbox)
	if err != nil {
		return store.MailboxState{}, err
	}
	s.warm(acct, mbox, n)
	return st, nil
}

// cachedBox returns the mailbox's cache if it is loaded, without loading it.
func (s *Store) cachedBox(mbox store.MailboxID) *mboxCache {
	if !s.cache.enabled() {
		return nil
	}
	s.cache.mu.RLock()
	b := s.cache.boxes[mbox]
	s.cache.mu.RUnlock()
	if b != nil {
		b.lastUse.Store(s.cache.clock.Add(1))
	}
	return b
}

// cachedState reads the state of a cached mailbox: O(runs + keywords),
// plus the entries between the seen bound and the first unseen message.
func (s *Store) cachedState(b *mboxCache) store.MailboxState {
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	return store.MailboxState{
		UIDs:        append(store.UIDSet(nil), b.runs...),
		FirstUnseen: b.firstUnseen(),
		Keywords:    b.keywords(),
	}
}

// firstUnseen returns the lowest UID without \Seen (0: none) and raises
// the seen bound to it. Under the cache's read lock.
func (b *mboxCache) firstUnseen() store.UID {
	for i := b.find(store.UID(b.seenBelow.Load())); i < len(b.msgs); i++ {
		if b.msgs[i].sys&store.FlagSeen == 0 {
			b.seenBelow.Store(uint32(b.msgs[i].uid))
			return b.msgs[i].uid
		}
	}
	if n := len(b.msgs); n > 0 {
		b.seenBelow.Store(uint32(b.msgs[n-1].uid) + 1) // 0 after the last UID: scan again, still right
	}
	return 0
}

// keywords returns the counted keywords sorted case-insensitively (as
// store.KeywordSet.Sorted). Under the cache's read lock.
func (b *mboxCache) keywords() []string {
	out := make([]string, 0, len(b.kw))
	for _, c := range b.kw {
		out = append(out, c.spelling)
	}
	sortKeywords(out)
	return out
}

func sortKeywords(kws []string) {
	sort.Slice(kws, func(i, j int) bool { return strings.ToLower(kws[i]) < strings.ToLower(kws[j]) })
}

// selectStateSQL reads the state from one read snapshot of the index; n
// is the number of messages.
func (s *Store) selectStateSQL(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (st store.MailboxState, n int64, err error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return st, 0, err
	}
	defer tx.Rollback()
	q := preparedTx{tx: tx, c: s.rq}
	var uidNext, unseen int64
	err = q.QueryRowContext(ctx, `SELECT uidnext, messages, unseen FROM mailboxes WHERE id=? AND account_id=?`, mbox, acct).
		Scan(&uidNext, &n, &unseen)
	if err != nil {
		return st, 0, notFound(err)
	}
	if st.UIDs, err = presentRuns(ctx, q, mbox, uidNext, n); err != nil {
		return st, 0, err
	}
	if unseen > 0 {
		// One row of the partial index messages_unseen.
		err = q.QueryRowContext(ctx, firstUnseenQuery, mbox).Scan(&st.FirstUnseen)
		if err != nil && err != sql.ErrNoRows {
			return st, 0, err
		}
	}
	if st.Keywords, err = keywordsSQL(ctx, q, mbox); err != nil {
		return st, 0, err
	}
	return st, n, nil
}

// preparedTx runs queries in a read transaction through the store's
// prepared statements: parsing the keyword scan and the other queries
// of selectStateSQL again on every SELECT was most of its CPU (about
// 100 µs of a SELECT of a mailbox not yet cached).
type preparedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (p preparedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := p.c.get(ctx, q); st != nil {
		return p.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, q, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := p.c.get(ctx, q); st != nil {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, q, args...)
}

// The queries of selectStateSQL (argument 1: the mailbox); their plans
// are checked by TestSelectStateQueryPlans.
const (
	firstUnseenQuery = `SELECT uid FROM messages INDEXED BY messages_unseen
		WHERE mailbox_id=? AND sysflags & 1 = 0 ORDER BY uid LIMIT 1`
	tombstonesQuery = `SELECT uid FROM tombstones WHERE mailbox_id=? AND uid <= ? ORDER BY uid`
	presentQuery    = `SELECT uid FROM messages WHERE mailbox_id=? ORDER BY uid`
)

// presentRuns returns the UIDs of the mailbox's messages as runs. UIDs are
// given in ascending order and never reused, and a message leaves a
// mailbox only by an expunge, which leaves a tombstone: so the present
// UIDs are those below UIDNEXT without a tombstone. When the tombstones
// are not many more than the messages, reading them is the cheaper way
// (none at all for a mailbox never expunged from); the message count the
// writer keeps in the mailbox row checks the premise, and the messages'
// UIDs are read instead when it does not hold.
func presentRuns(ctx context.Context, tx querier, mbox store.MailboxID, uidNext, n int64) (store.UIDSet, error) {
	top := uint64(uidNext) - 1 // the last UID given
	if uidNext == 0 {
		top = uint64(^store.UID(0)) // uidnext wrapped: every UID was given
	}
	if gaps := int64(top) - n; gaps >= 0 && gaps <= n+1024 {
		runs, count, err := complementRuns(ctx, tx, mbox, top)
		if err != nil {
			return nil, err
		}
		if count == uint64(n) {
			return runs, nil
		}
	}
	uids, err := queryUIDs(ctx, tx, presentQuery, mbox)
	if err != nil {
		return nil, err
	}
	return store.UIDSetOf(uids), nil
}

// complementRuns returns the UIDs 1..top without a tombstone, as runs, and
// how many they are.
func complementRuns(ctx context.Context, tx querier, mbox store.MailboxID, top uint64) (store.UIDSet, uint64, error) {
	rows, err := tx.QueryContext(ctx, tombstonesQuery, mbox, int64(top))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var runs store.UIDSet
	var count uint64
	next := uint64(1) // the lowest UID not yet placed
	add := func(lo, hi uint64) {
		if lo <= hi {
			runs = append(runs, store.UIDRange{Lo: store.UID(lo), Hi: store.UID(hi)})
			count += hi - lo + 1
		}
	}
	for rows.Next() {
		var t int64
		if err := rows.Scan(&t); err != nil {
			return nil, 0, err
		}
		add(next, uint64(t)-1)
		next = uint64(t) + 1
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	add(next, top)
	return runs, count, nil
}

// keywordsQuery lists the distinct keyword lists of a mailbox (argument
// 1) as a loose scan of the partial index messages_keywords: one seek
// per distinct list, however many messages carry it.
const keywordsQuery = `WITH RECURSIVE k(kw) AS (
	SELECT (SELECT keywords FROM messages INDEXED BY messages_keywords
		WHERE mailbox_id=?1 AND keywords != '' ORDER BY keywords LIMIT 1)
	UNION ALL
	SELECT (SELECT keywords FROM messages INDEXED BY messages_keywords
		WHERE mailbox_id=?1 AND keywords != '' AND keywords > k.kw ORDER BY keywords LIMIT 1)
	FROM k WHERE k.kw IS NOT NULL)
SELECT kw FROM k WHERE kw IS NOT NULL`

// keywordsSQL returns the keywords used in the mailbox, from the index.
func keywordsSQL(ctx context.Context, db querier, mbox store.MailboxID) ([]string, error) {
	rows, err := db.QueryContext(ctx, keywordsQuery, mbox)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ks store.KeywordSet
	for rows.Next() {
		var kw string
		if err := rows.Scan(&kw); err != nil {
			return nil, err
		}
		ks.Add(store.SplitKeywords(kw))
	}
	return ks.Sorted(), rows.Err()
}

// background runs the cache loads SELECT starts; Close waits for them.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (g *background) init() {
	g.ctx, g.cancel = context.WithCancel(context.Background())
}

// goRun runs f in a goroutine unless stop was called.
func (g *background) goRun(f func(ctx context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
}

// stop cancels the running loads and waits for them.
func (g *background) stop() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// warm loads the cache of a mailbox of n messages in the background: a
// session that selected it will list or search it next. Nothing happens
// when it is cached or being loaded, or too big to be kept.
func (s *Store) warm(acct store.AccountID, mbox store.MailboxID, n int64) {
	c := s.cache
	if !c.enabled() || n > int64(c.limit) {
		return
	}
	c.mu.RLock()
	busy := c.boxes[mbox] != nil || c.loading[mbox] != nil
	c.mu.RUnlock()
	if busy {
		return
	}
	s.bg.goRun(func(ctx context.Context) {
		if _, err := s.box(ctx, acct, mbox); err != nil && ctx.Err() == nil {
			s.log.Debug("loading the flag cache", "mailbox", mbox, "err", err)
		}
	})
}
