package server

import (
	"sync"

	"github.com/youju/youju/internal/store"
)

// \Recent (RFC 3501 §2.3.2): a message is recent to the first session
// that is told about it with the mailbox selected read-write; that
// session sees \Recent on it, the RECENT count and the NEW/RECENT/OLD
// search keys, and no other session does. IMAP4rev2 removed it (RFC
// 9051 appendix E), so a session that ENABLEd IMAP4rev2 sees none.
//
// The state is kept in this process, not in the store: per mailbox, the
// highest UID some read-write session has been told about (the "recent
// floor"). That is exact for one node. After a restart the floors are
// unknown, and RFC 3501 §2.3.2 says a message SHOULD then be considered
// recent: the first session to select a mailbox after a restart sees all
// of it as recent. With several nodes serving one mailbox, each would
// hand out \Recent on its own.

// recentFloors holds the floors of the mailboxes sessions have selected.
type recentFloors struct {
	mu    sync.Mutex
	floor map[store.MailboxID]store.UID
}

// recentFrom returns the first UID that is recent to the caller among
// those up to last. With claim (SELECT, or new messages announced to a
// read-write session) the floor moves to last, so that no other session
// sees them as recent; without (EXAMINE, STATUS) it only looks.
func (s *Server) recentFrom(mbox store.MailboxID, last store.UID, claim bool) store.UID {
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
