package postgres

import (
	"context"
	"fmt"

	"github.com/youju/youju/internal/store"
)

var _ store.MailboxSelecter = (*Store)(nil)

// SelectMailbox implements store.MailboxSelecter. When the mailbox's
// flag cache entry is of its current state (nothing changed since a
// listing filled it) and no message awaits a \Recent claim, it is one
// statement:
// the mailbox row by name with its \Recent floor; the cache is checked in
// Go against the row's HIGHESTMODSEQ, UIDNEXT and count and gives the
// state of that same snapshot. Otherwise the state is read from the
// tables after it (SelectState's transaction: a snapshot no older than
// the row's), and a claim of messages above the floor is RecentFloor's
// upsert, after the state, with the highest UID of the state as before.
// A SELECT of a cached 100k mailbox was three round trips: the row, the
// row again to check the cache, the claim.
//
// The claim is not folded into the statement (a writable CTE): that
// statement cost PostgreSQL 30-40 µs more CPU than the read on every
// SELECT (BenchmarkSelect100k, pgbench), to save a round trip only for the SELECT
// that has something to claim, which after new mail also reads the
// state from the tables (a transaction of several round trips) anyway.
// Skipping the claim when the row's floor is at or above the state's
// last UID is exact: floors only rise, so the latest floor is too, and
// nothing is left for the caller to claim.
func (s *Store) SelectMailbox(ctx context.Context, acct store.AccountID, name string, mode store.RecentMode) (store.Selection, error) {
	var sel store.Selection
	name, err := store.NormMailboxName(name)
	if err != nil {
		return sel, store.ErrNotFound
	}
	floor, err := s.selectRow(ctx, acct, name, mode, &sel.Mailbox)
	if err != nil {
		return sel, err
	}
	m := &sel.Mailbox
	if s.opts.afterSelectRow != nil {
		s.opts.afterSelectRow()
	}
	st, ok := s.cachedState(m)
	if !ok {
		if st, err = s.selectStateSQL(ctx, acct, m.ID); err != nil {
			return sel, err
		}
	}
	sel.State = st
	last := maxUID(st.UIDs)
	switch {
	case mode == store.RecentLook || mode == store.RecentClaim && floor >= last:
		sel.Recent = recentRange(floor, last)
	case mode == store.RecentClaim:
		// RecentFloor's upsert raises the floor atomically with
		// respect to every node and returns the floor it raised.
		prev, err := s.RecentFloor(ctx, m.ID, last, true)
		if err != nil {
			// Not recent rather than recent twice (\Recent is a hint,
			// RFC 3501 §2.3.2), as the IMAP server does when a claim
			// fails.
			s.log.Warn("postgres: recent floor", "mailbox", m.ID, "err", err)
			break
		}
		sel.Recent = recentRange(prev, last)
	}
	return sel, nil
}

// selectRow reads the mailbox row by name into m and, unless mode is
// RecentNone, its \Recent floor in the same statement.
func (s *Store) selectRow(ctx context.Context, acct store.AccountID, name string, mode store.RecentMode, m *store.Mailbox) (store.UID, error) {
	const byName = ` FROM mailboxes b WHERE b.account_id=$1 AND b.name=$2`
	var floor int64
	var err error
	if mode == store.RecentNone {
		*m, err = scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxCols+byName, acct, name))
	} else {
		*m, err = scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxCols+`,
			COALESCE((SELECT floor FROM recent_floors WHERE mailbox_id=b.id), 0)`+byName, acct, name), &floor)
	}
	if err != nil && err != store.ErrNotFound {
		return 0, fmt.Errorf("postgres: select: %w", err)
	}
	return store.UID(floor), err
}

// recentRange is the set of the UIDs above floor up to last.
func recentRange(floor, last store.UID) store.UIDSet {
	if last <= floor {
		return nil
	}
	return store.UIDSet{{Lo: floor + 1, Hi: last}}
}

// maxUID is the highest UID of set (0 when empty).
func maxUID(set store.UIDSet) store.UID {
	if len(set) == 0 {
		return 0
	}
	return set[len(set)-1].Hi
}
