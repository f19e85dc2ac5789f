package server

import (
	"fmt"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// cachedResult is the last SEARCH or SORT result of a session, so that a
// client paging through a large sorted mailbox with PARTIAL (RFC 5267
// §4.4) pays for the sort once, not once per page. It is used only while
// the mailbox is exactly as it was: same HIGHESTMODSEQ and UIDNEXT in the
// store (every flag change, expunge and delivery moves one of them) and
// the same view of the session. RFC 5267 §4.5 allows such caching as long
// as the results are the same as without it.
type cachedResult struct {
	key     string
	modseq  store.ModSeq
	uidNext store.UID
	n       uint32
	maxUID  store.UID
	uids    []store.UID
	modseqs []store.ModSeq
}

// resultKey identifies a program and its sort criteria; "" when its
// result may change while the mailbox does not: YOUNGER and OLDER move
// with the clock, "$" with the next SAVE.
func resultKey(kind string, key *wire.SearchKey, sortKeys []wire.SortKey) string {
	if !cacheable(key) {
		return ""
	}
	return fmt.Sprintf("%s %v %#v", kind, sortKeys, key)
}

func cacheable(k *wire.SearchKey) bool {
	switch k.Key {
	case "YOUNGER", "OLDER":
		return false
	case "UID", "SEQ":
		if k.Set.Saved {
			return false
		}
	}
	for i := range k.Sub {
		if !cacheable(&k.Sub[i]) {
			return false
		}
	}
	return true
}

// cachedSearch returns the result for ck from the cache when the mailbox
// has not changed since it was computed, else computes and keeps it.
func (c *conn) cachedSearch(ck string, compute func() ([]store.UID, []store.ModSeq, error)) ([]store.UID, []store.ModSeq, error) {
	if ck == "" {
		return compute()
	}
	// The state is read before computing: a change during the
	// computation moves it, so the entry is never newer than its stamp.
	m, err := c.srv.Store.MailboxByID(c.ctx, c.acct.ID, c.sel.mbox.ID)
	if err != nil {
		return nil, nil, err
	}
	cs := c.contexts()
	if r := cs.last; r != nil && r.key == ck && r.modseq == m.HighestModSeq && r.uidNext == m.UIDNext &&
		r.n == c.sel.uids.len() && r.maxUID == c.sel.uids.maxUID() {
		return r.uids, r.modseqs, nil
	}
	cs.last = nil
	uids, modseqs, err := compute()
	if err != nil {
		return nil, nil, err
	}
	cs.last = &cachedResult{key: ck, modseq: m.HighestModSeq, uidNext: m.UIDNext, n: c.sel.uids.len(),
		maxUID: c.sel.uids.maxUID(), uids: uids, modseqs: modseqs}
	return uids, modseqs, nil
}
