package postgres

import (
	"context"
	"fmt"

	"github.com/youju/youju/internal/store"
)

var _ store.MailboxSelecter = (*Store)(nil)

// SelectMailbox implements store.MailboxSelecter. When the mailbox's
// flag cache entry is of its current state, it is one statement: the
// mailbox row by name and, with a claim, the \Recent upsert of
// RecentFloor in a writable CTE; the cache is checked in Go against the
// row's HIGHESTMODSEQ, UIDNEXT and count, and gives the state of that
// same snapshot. Otherwise the state is read from the tables after it
// (SelectState's transaction), a snapshot no older than the row's. A
// SELECT of a cached 100k mailbox was three round trips: the row, the
// row again to check the cache, the claim.
//
// The claim raises the floor to UIDNEXT-1 of the row's snapshot, not to
// the highest UID of the state (RecentFloor's caller's "last"). When the
// state is of that snapshot (a cache hit), the two differ only by UIDs
// given to messages since expunged; UIDs are never given again (RFC 9051
// §2.3.1.1), so no session can be told about those and raising the floor
// over them changes what no session sees. A state read later (a miss)
// may hold messages delivered in between, above UIDNEXT-1: a second
// claim takes them, as RecentFloor would have.
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
	switch mode {
	case store.RecentLook:
		sel.Recent = recentRange(nil, floor, last)
	case store.RecentClaim:
		claimed := max(m.UIDNext, 1) - 1
		sel.Recent = recentRange(nil, floor, min(last, claimed))
		if last > claimed {
			// Delivered between the row and the state: theirs too.
			prev, err := s.RecentFloor(ctx, m.ID, last, true)
			if err != nil {
				// Not recent rather than recent twice (\Recent is a
				// hint, RFC 3501 §2.3.2), as the IMAP server does when a
				// claim fails.
				s.log.Warn("postgres: recent floor", "mailbox", m.ID, "err", err)
				break
			}
			sel.Recent = recentRange(sel.Recent, max(prev, claimed), last)
		}
	}
	return sel, nil
}

// selectRow reads the mailbox row by name into m and, as mode says,
// claims (or reads) its \Recent floor in the same statement; it returns
// the floor before the claim.
func (s *Store) selectRow(ctx context.Context, acct store.AccountID, name string, mode store.RecentMode, m *store.Mailbox) (store.UID, error) {
	const byName = ` FROM mailboxes b WHERE b.account_id=$1 AND b.name=$2`
	var floor int64
	var err error
	switch mode {
	case store.RecentNone:
		*m, err = scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxCols+byName, acct, name))
		return 0, err
	case store.RecentLook:
		*m, err = scanMailbox(s.pool.QueryRow(ctx, `SELECT `+mailboxCols+`,
			COALESCE((SELECT floor FROM recent_floors WHERE mailbox_id=b.id), 0)`+byName, acct, name), &floor)
	default:
		// RecentFloor's upsert (coord.go: the row lock serialises the
		// claims of every node, and prev is the floor this claim
		// raised; committed without waiting for the WAL flush), fed by
		// the row read in the same statement. A floor already at or
		// above the claim leaves nothing recent to the caller, and is
		// left alone: floors only rise, so one at or above it in the
		// snapshot is so in the latest row too (the NOT EXISTS, which
		// spares a SELECT with no new mail the row lock, a write), and
		// one that rose since is found by the WHERE, evaluated on the
		// locked latest row.
		*m, err = scanMailbox(s.pool.QueryRow(ctx, `WITH mb AS (SELECT `+mailboxCols+byName+`),
			async AS (SELECT set_config('synchronous_commit', 'off', true)),
			up AS (INSERT INTO recent_floors AS r (mailbox_id, floor, prev)
				SELECT id, GREATEST(uidnext - 1, 0), 0 FROM mb
				WHERE NOT EXISTS (SELECT 1 FROM recent_floors f WHERE f.mailbox_id = mb.id AND f.floor >= mb.uidnext - 1)
				ON CONFLICT (mailbox_id) DO UPDATE SET prev = r.floor, floor = excluded.floor
				WHERE r.floor < excluded.floor
				RETURNING prev)
			SELECT mb.*, COALESCE((SELECT prev FROM up), GREATEST(mb.uidnext - 1, 0)) FROM mb, async`, acct, name), &floor)
	}
	if isForeignKey(err) {
		return 0, store.ErrNotFound // the mailbox was deleted meanwhile
	}
	if err != nil && err != store.ErrNotFound {
		return 0, fmt.Errorf("postgres: select: %w", err)
	}
	return store.UID(floor), err
}

// recentRange adds the UIDs above floor up to last to set.
func recentRange(set store.UIDSet, floor, last store.UID) store.UIDSet {
	if last <= floor {
		return set
	}
	return set.AppendRange(floor+1, last)
}

// maxUID is the highest UID of set (0 when empty).
func maxUID(set store.UIDSet) store.UID {
	if len(set) == 0 {
		return 0
	}
	return set[len(set)-1].Hi
}
