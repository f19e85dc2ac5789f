package server

import (
	"slices"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// Limits on update contexts. RFC 5267 §4.3.1 lets a server refuse updates
// past an internal limit (NOUPDATE) as long as each client can have one
// context: the first context of a selection is always accepted, whatever
// its size (its results were just computed anyway); further ones only while
// the session holds fewer than maxUpdateContexts contexts and
// maxContextResults results in all.
const (
	maxUpdateContexts = 8
	maxContextResults = 200_000
)

// maxUpdateUIDs bounds the results named by one ESEARCH update line; more
// changes go on further lines. A variable so that tests can make it small.
var maxUpdateUIDs = 1000

// updateContext is a SEARCH or SORT with RETURN (UPDATE) whose results the
// server keeps current with ADDTO and REMOVEFROM (RFC 5267 §4.3).
type updateContext struct {
	tag      string
	uid      bool           // UID SEARCH/SORT: updates name UIDs
	key      wire.SearchKey // the program, in UTF-8
	sortKeys []wire.SortKey // nil for SEARCH
	// uids are the results of a SEARCH context, ascending (mailbox order,
	// RFC 5267 §4.1).
	uids []store.UID
	// recs are the results of a SORT context in sort order, byUID the
	// same by UID.
	recs  []*sortRec
	byUID map[store.UID]*sortRec
}

func (u *updateContext) isSort() bool { return u.sortKeys != nil }

func (u *updateContext) size() int {
	if u.isSort() {
		return len(u.recs)
	}
	return len(u.uids)
}

func (u *updateContext) has(uid store.UID) bool {
	if u.isSort() {
		return u.byUID[uid] != nil
	}
	_, ok := slices.BinarySearch(u.uids, uid)
	return ok
}

// updateContexts are the contexts of the session's current selection.
type updateContexts struct {
	sel  *selected
	list []*updateContext
	last *cachedResult // the last result, for paging (resultcache.go)
}

// contexts returns the session's update contexts. Those of an earlier
// selection are dropped: updates cease when the mailbox is no longer
// selected (RFC 5267 §4.3).
func (c *conn) contexts() *updateContexts {
	if c.updates.sel != c.sel {
		c.updates = updateContexts{sel: c.sel}
	}
	return &c.updates
}

func (cs *updateContexts) find(tag string) int {
	return slices.IndexFunc(cs.list, func(u *updateContext) bool { return u.tag == tag })
}

func (cs *updateContexts) results() int {
	n := 0
	for _, u := range cs.list {
		n += u.size()
	}
	return n
}

// checkUpdateTag refuses UPDATE with the tag of a live context: updates
// are told apart by tag (RFC 5267 §4.3: such a command gets BAD).
func (c *conn) checkUpdateTag(tag string, r returnOpts) error {
	if r.has("UPDATE") && c.contexts().find(tag) >= 0 {
		return bad("", "tag already names an update context")
	}
	return nil
}

// addContext starts updates for u, or refuses them with an untagged
// NO [NOUPDATE "tag"] past the limits; the command still succeeds with
// its other return options (RFC 5267 §4.3.1).
func (c *conn) addContext(u *updateContext) {
	cs := c.contexts()
	if len(cs.list) > 0 && (len(cs.list) >= maxUpdateContexts || cs.results()+u.size() > maxContextResults) {
		c.w.Raw("* NO [NOUPDATE ").String(u.tag).Raw("] too many update contexts, will not notify").CRLF()
		return
	}
	cs.list = append(cs.list, u)
}

// cmdCancelUpdate ends the updates of the contexts named by their tags
// (RFC 5267 §4.3.5).
func cmdCancelUpdate(c *conn, cmd *wire.Command) error {
	cs := c.contexts()
	var unknown string
	for _, t := range cmd.Args.(*wire.CancelUpdateArgs).Tags {
		if i := cs.find(t); i >= 0 {
			cs.list = slices.Delete(cs.list, i, i+1)
		} else if unknown == "" {
			unknown = t
		}
	}
	if unknown != "" {
		return no("", "no update context for tag "+unknown)
	}
	return nil
}

// ctxPair is one context position and the results it concerns (RFC 5267
// §4.3.3, §4.3.4); position 0 is "wherever, in mailbox order".
type ctxPair struct {
	pos  int
	uids []store.UID
}

// writeUpdate writes the ADDTO or REMOVEFROM pairs of u, in the order the
// client must apply them (RFC 5267 §4.3.2), at most maxUpdateUIDs results
// to a line. A longer pair is cut in pieces that, applied in order, do the
// same: ADDTO inserts the rest after the first piece, REMOVEFROM removes
// it from the same position once the first piece is gone.
func (c *conn) writeUpdate(u *updateContext, item string, pairs []ctxPair) {
	var line []ctxPair
	n := 0
	flush := func() {
		if len(line) == 0 {
			return
		}
		w := c.w
		w.Raw("* ESEARCH (TAG ").String(u.tag).Raw(")")
		if u.uid {
			w.Raw(" UID")
		}
		w.SP().Raw(item).Raw(" (")
		for i, p := range line {
			if i > 0 {
				w.SP()
			}
			w.Number(uint64(p.pos)).SP().Raw(c.numberList(u.uid, p.uids))
		}
		w.Raw(")").CRLF()
		line, n = line[:0], 0
	}
	for _, p := range pairs {
		for len(p.uids) > 0 {
			k := min(len(p.uids), maxUpdateUIDs-n)
			line = append(line, ctxPair{p.pos, p.uids[:k]})
			n += k
			if p.pos > 0 && item == "ADDTO" {
				p.pos += k
			}
			p.uids = p.uids[k:]
			if n == maxUpdateUIDs {
				flush()
			}
		}
	}
	flush()
}

// contextsExpunge removes messages being expunged from every context. It
// runs before the EXPUNGE or VANISHED responses: a REMOVEFROM with
// sequence numbers must precede the expunge it is due to, while they are
// still valid (RFC 5267 §4.3.4).
func (c *conn) contextsExpunge(uids []store.UID) {
	if len(c.updates.list) == 0 {
		return
	}
	for _, u := range c.contexts().list {
		var gone []store.UID
		for _, uid := range uids {
			if u.has(uid) {
				gone = append(gone, uid)
			}
		}
		c.removeResults(u, gone)
	}
}

// contextsChanged brings every context up to date with the messages of
// changed (new ones and changed flags, ascending UIDs), after the EXISTS
// that made new sequence numbers valid (RFC 5267 §4.3.3). The program is
// evaluated again on those messages only.
func (c *conn) contextsChanged(changed []store.Message) {
	if len(c.updates.list) == 0 {
		return
	}
	cs := c.contexts()
	var within store.UIDSet
	for i := range changed {
		if _, ok := c.sel.uids.seqOf(changed[i].UID); ok {
			within = within.AppendRange(changed[i].UID, changed[i].UID)
		}
	}
	if len(within) == 0 {
		return
	}
	touched := c.sel.uids.present(within)
	for _, u := range slices.Clone(cs.list) {
		if err := c.refreshContext(u, within, touched); err != nil {
			c.logger().Warn("update context", "tag", u.tag, "err", err)
			c.dropContext(u, "cannot update this context")
			continue
		}
		if len(cs.list) > 1 && cs.results() > maxContextResults {
			c.dropContext(u, "too many results to notify")
		}
	}
}

// dropContext ends the updates of u, telling the client with NOUPDATE
// (RFC 5267 §4.3.1).
func (c *conn) dropContext(u *updateContext, why string) {
	cs := c.contexts()
	if i := slices.Index(cs.list, u); i >= 0 {
		cs.list = slices.Delete(cs.list, i, i+1)
	}
	c.w.Raw("* NO [NOUPDATE ").String(u.tag).Raw("] ").Raw(why).CRLF()
}

// refreshContext evaluates u's program on the touched messages (the UIDs
// of within present in the view) and sends what left and what joined the
// results.
func (c *conn) refreshContext(u *updateContext, within store.UIDSet, touched []store.UID) error {
	var matched []store.UID
	var recs []*sortRec
	var err error
	if u.isSort() {
		if recs, err = c.sortProgram(&u.key, within, u.sortKeys); err != nil {
			return err
		}
		for _, r := range recs {
			matched = append(matched, r.uid)
		}
		slices.Sort(matched)
	} else if matched, err = c.matchProgram(&u.key, within, false, nil); err != nil {
		return err
	}
	var gone []store.UID
	for _, uid := range touched {
		_, now := slices.BinarySearch(matched, uid)
		if u.has(uid) && !now {
			gone = append(gone, uid)
		}
	}
	c.removeResults(u, gone)
	if u.isSort() {
		recs = slices.DeleteFunc(recs, func(r *sortRec) bool { return u.has(r.uid) })
		c.addSorted(u, recs)
		return nil
	}
	added := slices.DeleteFunc(matched, func(uid store.UID) bool { return u.has(uid) })
	if len(added) > 0 {
		u.uids = mergeUIDs(u.uids, added)
		// RFC 5267 §4.3.3: a SEARCH context may use position 0, with the
		// set in mailbox order.
		c.writeUpdate(u, "ADDTO", []ctxPair{{0, added}})
	}
	return nil
}

// removeResults takes gone (results of u) out of u and sends REMOVEFROM.
func (c *conn) removeResults(u *updateContext, gone []store.UID) {
	if len(gone) == 0 {
		return
	}
	gone = slices.Clone(gone)
	slices.Sort(gone)
	if !u.isSort() {
		u.uids = slices.DeleteFunc(u.uids, func(uid store.UID) bool {
			_, ok := slices.BinarySearch(gone, uid)
			return ok
		})
		c.writeUpdate(u, "REMOVEFROM", []ctxPair{{0, gone}})
		return
	}
	// Positions (0-based) of the removed results, last first: removing
	// from the end does not move the earlier ones, so each pair's
	// position is the one the client sees when it applies it.
	pos := make([]int, 0, len(gone))
	for _, uid := range gone {
		r := u.byUID[uid]
		i, _ := slices.BinarySearchFunc(u.recs, r, func(x, y *sortRec) int { return compareRecs(u.sortKeys, x, y) })
		pos = append(pos, i)
		delete(u.byUID, uid)
	}
	slices.Sort(pos)
	var pairs []ctxPair
	for end := len(pos); end > 0; {
		start := end - 1
		for start > 0 && pos[start-1] == pos[start]-1 {
			start--
		}
		run := make([]store.UID, 0, end-start)
		for _, p := range pos[start:end] {
			run = append(run, u.recs[p].uid)
		}
		pairs = append(pairs, ctxPair{pos[start] + 1, run})
		end = start
	}
	u.recs = slices.DeleteFunc(u.recs, func(r *sortRec) bool { return u.byUID[r.uid] == nil })
	c.writeUpdate(u, "REMOVEFROM", pairs)
}

// addSorted merges the new results recs (sorted) into the SORT context u
// and sends ADDTO. Inserted first to last, each lands at its final
// position, which is the position sent; adjacent ones share a pair.
func (c *conn) addSorted(u *updateContext, recs []*sortRec) {
	if len(recs) == 0 {
		return
	}
	merged := make([]*sortRec, 0, len(u.recs)+len(recs))
	var pairs []ctxPair
	i := 0
	for _, r := range recs {
		for i < len(u.recs) && compareRecs(u.sortKeys, u.recs[i], r) < 0 {
			merged = append(merged, u.recs[i])
			i++
		}
		pos := len(merged) + 1
		if k := len(pairs); k > 0 && pairs[k-1].pos+len(pairs[k-1].uids) == pos {
			pairs[k-1].uids = append(pairs[k-1].uids, r.uid)
		} else {
			pairs = append(pairs, ctxPair{pos, []store.UID{r.uid}})
		}
		merged = append(merged, r)
		u.byUID[r.uid] = r
	}
	u.recs = append(merged, u.recs[i:]...)
	c.writeUpdate(u, "ADDTO", pairs)
}

// mergeUIDs merges two ascending lists without common elements.
func mergeUIDs(a, b []store.UID) []store.UID {
	out := make([]store.UID, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
