package server

import (
	"context"
	"sync"

	"github.com/youju/youju/internal/store"
)

// \Recent (RFC 3501 §2.3.2): a message is recent to the first session
// that is told about it with the mailbox selected read-write; that
// session sees \Recent on it, the RECENT count and the NEW/RECENT/OLD
// search keys, and no other session does. IMAP4rev2 removed it (RFC
// 9051 appendix E), so a session that ENABLEd IMAP4rev2 sees none.
//
// The state is, per mailbox, the highest UID some read-write session has
// been told about (the "recent floor"). A store shared by several nodes
// keeps the floors (store.RecentClaimer), so that one session on one node
// sees a message as recent; otherwise they are kept in this process,
// which is exact for one node and costs no store call. After a restart
// the in-process floors are unknown, and RFC 3501 §2.3.2 says a message
// SHOULD then be considered recent: the first session to select a
// mailbox after a restart sees all of it as recent.

// recentFloors holds the floors of the mailboxes sessions have selected.
type recentFloors struct {
	mu    sync.Mutex
	floor map[store.MailboxID]store.UID
}

// recentFrom returns the first UID that is recent to the caller among
// those up to last. With claim (SELECT, or new messages announced to a
// read-write session) the floor moves to last, so that no other session
// sees them as recent; without (EXAMINE, STATUS) it only looks.
func (s *Server) recentFrom(ctx context.Context, mbox store.MailboxID, last store.UID, claim bool) store.UID {
	if rc, ok := store.As[store.RecentClaimer](s.Store); ok {
		floor, err := rc.RecentFloor(ctx, mbox, last, claim)
		if err != nil {
			// Nothing is recent rather than everything twice: \Recent
			// is advisory (RFC 3501 §2.3.2), and the next command will
			// report the store's trouble anyway.
			s.logger().Warn("imap: recent floor", "mailbox", mbox, "err", err)
			return last + 1
		}
		return floor + 1
	}
	r := &s.recent
	r.mu.Lock()
	defer r.mu.Unlock()
	floor := r.floor[mbox]
	if claim && last > floor {
		if r.floor == nil {
			r.floor = make(map[store.MailboxID]store.UID)
		}
		r.floor[mbox] = last
	}
	return floor + 1
}

// noteRecent adds the UIDs from..to (those recent to this session) to
// the selection.
func (sel *selected) noteRecent(from, to store.UID) {
	if from == 0 || from > to {
		return
	}
	sel.recent = sel.recent.AppendRange(from, to)
}

// isRecent reports whether uid is recent to this session.
func (c *conn) isRecent(uid store.UID) bool {
	if c.sel == nil || c.rev2 || len(c.sel.recent) == 0 {
		return false
	}
	return c.sel.recent.Contains(uid)
}

// recentCount is the number of messages recent to this session that are
// still in its view (the RECENT response, RFC 3501 §7.3.2).
func (c *conn) recentCount() int {
	if c.sel == nil || len(c.sel.recent) == 0 {
		return 0
	}
	return int(c.sel.uids.count(c.sel.recent))
}
