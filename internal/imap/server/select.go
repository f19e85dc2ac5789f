package server

import (
	"cmp"
	"slices"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// selected is the state of the selected mailbox. Its size does not grow
// with the mailbox: UIDs are kept as runs (uidMap).
type selected struct {
	mbox     store.Mailbox
	readOnly bool
	uids     *uidMap
	modseq   store.ModSeq // the mailbox's HIGHESTMODSEQ the session has caught up to
	// own holds the flag changes this session made and already reported
	// (or was told not to, with .SILENT), so that the next update does not
	// echo them; bounded by maxOwn, cleared at each update.
	own map[store.UID]store.ModSeq
	// saved is the result of the last SEARCH with RETURN (SAVE), as UIDs
	// (SEARCHRES, RFC 5182); "$" refers to it.
	saved store.UIDSet
	// recent are the UIDs recent to this session (recent.go).
	recent store.UIDSet
	// keywords are the keywords the client was told of in FLAGS, known
	// the same in lower case (keywords.go).
	keywords []string
	known    map[string]bool
	// looked is when the session last asked the store for changes
	// (poll.go).
	looked time.Time
}

const maxOwn = 1024

// noteOwn records flag changes made by this session.
func (sel *selected) noteOwn(changed []store.Message) {
	if len(changed) > maxOwn {
		return
	}
	if sel.own == nil {
		sel.own = make(map[store.UID]store.ModSeq, len(changed))
	}
	for i := range changed {
		sel.own[changed[i].UID] = changed[i].ModSeq
	}
}

// cmdSelect opens a mailbox (RFC 9051 §6.3.2, EXAMINE §6.3.3).
func cmdSelect(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.SelectArgs)
	c.leaveSelected()
	if a.QResync != nil && !c.qresync {
		return bad("", "QRESYNC parameter needs ENABLE QRESYNC") // RFC 7162 §3.2.5
	}
	if a.CondStore {
		c.enableCondstore()
	}
	readOnly := cmd.Name == "EXAMINE"
	// Drain the events queued so far: what they announce was committed
	// before the snapshot below, which includes it. (Those queued after
	// stay, and at worst repeat what the snapshot told.)
	c.drainEvents(0) // every event goes, whatever its mailbox
	m, st, recent, err := c.openMailbox(a.Mailbox, readOnly)
	if err != nil {
		return err
	}
	sel := &selected{mbox: m, readOnly: readOnly, uids: newUIDMapFromSet(st.UIDs), modseq: m.HighestModSeq, looked: time.Now(), recent: recent}
	sel.setKeywords(st.Keywords)
	c.sel, c.state = sel, stateSelected
	w := c.w
	w.Raw("* ").Number(uint64(sel.uids.len())).Raw(" EXISTS").CRLF()
	if !c.rev2 {
		w.Raw("* ").Number(uint64(c.recentCount())).Raw(" RECENT").CRLF() // RFC 3501 §6.3.1
	}
	c.writeFlagsResponses(sel, true)
	w.Raw("* OK [UIDVALIDITY ").Number(uint64(m.UIDValidity)).Raw("] UIDs valid").CRLF()
	w.Raw("* OK [UIDNEXT ").Number(uint64(m.UIDNext)).Raw("] predicted next UID").CRLF()
	if !c.rev2 && st.FirstUnseen != 0 {
		// RFC 3501 §6.3.1 UNSEEN: the first unseen message.
		if seq, ok := sel.uids.seqOf(st.FirstUnseen); ok {
			w.Raw("* OK [UNSEEN ").Number(uint64(seq)).Raw("] first unseen").CRLF()
		}
	}
	if rev2ListOnSelect := c.rev2; rev2ListOnSelect {
		// RFC 9051 §6.3.2: a LIST response with the mailbox's name.
		w.Raw(`* LIST () "/" `).Mailbox(m.Name).CRLF()
	}
	if c.condstore {
		// RFC 7162 §3.1.2.1
		w.Raw("* OK [HIGHESTMODSEQ ").Number(uint64(m.HighestModSeq)).Raw("] highest").CRLF()
	}
	if a.QResync != nil && a.QResync.UIDValidity == m.UIDValidity {
		if err := c.resync(a.QResync.ModSeq, a.QResync.KnownUIDs); err != nil {
			return err
		}
	}
	if sel.readOnly {
		c.okCode = "READ-ONLY"
	} else {
		c.okCode = "READ-WRITE"
	}
	return w.Err()
}

// openMailbox reads what SELECT reports of a mailbox: its row, then its
// state (store.MailboxState) and the UIDs recent to the session (none for
// IMAP4rev2). The state is read after the row: the row's HIGHESTMODSEQ
// must not be newer than the UIDs, or changes in between would be missed;
// the next update catches up from the older value. The store gives UID
// runs, not a UID per message, so that SELECT of a big mailbox does no
// work per message. A store that has it (PostgreSQL) does all this in
// one call (store.MailboxSelecter), a round trip rather than three.
func (c *conn) openMailbox(name string, readOnly bool) (store.Mailbox, store.MailboxState, store.UIDSet, error) {
	if ms, ok := store.As[store.MailboxSelecter](c.srv.Store); ok {
		mode := store.RecentNone
		if !c.rev2 {
			mode = store.RecentLook
			if !readOnly {
				mode = store.RecentClaim
			}
		}
		sel, err := ms.SelectMailbox(c.ctx, c.acct.ID, name, mode)
		return sel.Mailbox, sel.State, sel.Recent, err
	}
	m, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, name)
	if err != nil {
		return m, store.MailboxState{}, nil, err
	}
	st, err := store.SelectState(c.ctx, c.srv.Store, c.acct.ID, m.ID)
	if err != nil || c.rev2 {
		return m, st, nil, err
	}
	var last store.UID // the highest UID of the state
	if n := len(st.UIDs); n > 0 {
		last = st.UIDs[n-1].Hi
	}
	var recent store.UIDSet
	if from := c.srv.recentFrom(c.ctx, m.ID, last, !readOnly); from <= last {
		recent = store.UIDSet{{Lo: from, Hi: last}}
	}
	return m, st, recent, nil
}

// leaveSelected closes the selected mailbox at the start of SELECT or
// EXAMINE, before anything can fail: RFC 9051 §6.3.2, a failed SELECT
// leaves no mailbox selected.
func (c *conn) leaveSelected() {
	if c.sel != nil && c.qresync {
		c.w.Raw("* OK [CLOSED] previous mailbox closed").CRLF() // RFC 7162 §3.2.11
	}
	c.closeMailbox()
}

// enableCondstore turns CONDSTORE on for the session. RFC 7162 §3.1.2:
// when it happens with a mailbox selected, the client learns the
// mailbox's HIGHESTMODSEQ.
func (c *conn) enableCondstore() {
	if c.condstore {
		return
	}
	c.condstore = true
	if c.sel != nil {
		if m, err := c.srv.Store.MailboxByID(c.ctx, c.acct.ID, c.sel.mbox.ID); err == nil {
			c.w.Raw("* OK [HIGHESTMODSEQ ").Number(uint64(m.HighestModSeq)).Raw("] highest").CRLF()
		}
	}
}

// writeModSeq adds " MODSEQ (n)" to a FETCH response once CONDSTORE is on
// (RFC 7162 §3.1.4.1: flag changes carry it).
func (c *conn) writeModSeq(ms store.ModSeq) {
	if c.condstore {
		c.w.Raw(" MODSEQ (").Number(uint64(ms)).Byte(')')
	}
}

func (c *conn) closeMailbox() {
	if c.sel != nil {
		c.sel = nil
		c.state = stateAuth
	}
}

// drainEvents discards queued events; it reports whether one was for mbox.
func (c *conn) drainEvents(mbox store.MailboxID) bool {
	// A full channel may have dropped an event of mbox (notify.Hub keeps
	// the older ones): look.
	hit := len(c.events) == cap(c.events) && cap(c.events) > 0
	for {
		select {
		case e := <-c.events:
			if e.Mailbox == mbox {
				hit = true
			}
		default:
			return hit
		}
	}
}

// cmdClose ends the selection; CLOSE first expunges silently when the
// mailbox is read-write (RFC 9051 §6.4.2), UNSELECT does not (§6.4.3).
func cmdClose(c *conn, cmd *wire.Command) error {
	sel := c.sel
	c.closeMailbox()
	if cmd.Name == "CLOSE" && !sel.readOnly {
		if _, err := c.srv.Store.Expunge(c.ctx, c.acct.ID, sel.mbox.ID, nil); err != nil {
			return err
		}
	}
	return nil
}

// cmdExpunge removes \Deleted messages (UID EXPUNGE: only those of the
// set, RFC 9051 §6.4.9) and reports each with EXPUNGE.
func cmdExpunge(c *conn, cmd *wire.Command) error {
	if c.sel.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	var set store.UIDSet
	if cmd.UID {
		set = c.sel.uids.uidsToSet(cmd.Args.(*wire.ExpungeArgs).Set)
		if len(set) == 0 {
			return nil
		}
	}
	uids, err := c.srv.Store.Expunge(c.ctx, c.acct.ID, c.sel.mbox.ID, set)
	if err != nil {
		return err
	}
	c.reportExpunged(uids)
	return c.w.Err()
}

// reportExpunged sends EXPUNGE for each UID the session knows, in
// ascending order, each renumbering the following ones (RFC 9051 §7.5.1).
func (c *conn) reportExpunged(uids []store.UID) {
	c.contextsExpunge(uids) // RFC 5267 §4.3.4: REMOVEFROM before EXPUNGE
	if c.qresync {
		// RFC 7162 §3.2.10: VANISHED replaces EXPUNGE.
		var gone []store.UID
		for _, u := range uids {
			if _, ok := c.sel.uids.remove(u); ok {
				gone = append(gone, u)
			}
		}
		if len(gone) > 0 {
			c.w.Raw("* VANISHED ").Raw(store.UIDSetOf(gone).SequenceSet()).CRLF()
		}
		return
	}
	for _, u := range uids {
		if seq, ok := c.sel.uids.remove(u); ok {
			c.w.Raw("* ").Number(uint64(seq)).Raw(" EXPUNGE").CRLF()
		}
	}
}

// resync answers the QRESYNC parameters of SELECT (RFC 7162 §3.2.5.1):
// the UIDs expunged since modseq (limited to known, when given) as
// VANISHED (EARLIER), then the flags of the messages changed since.
func (c *conn) resync(modseq uint64, known *wire.SeqSet) error {
	sel := c.sel
	ch, err := c.srv.Store.Changes(c.ctx, c.acct.ID, sel.mbox.ID, store.ModSeq(modseq))
	if err != nil {
		return err
	}
	c.writeVanishedEarlier(ch, known)
	c.announceKeywords(ch.Changed)
	for i := range ch.Changed {
		m := &ch.Changed[i]
		seq, ok := sel.uids.seqOf(m.UID)
		if !ok {
			continue
		}
		c.w.Raw("* ").Number(uint64(seq)).Raw(" FETCH (UID ").Number(uint64(m.UID)).Raw(" FLAGS ")
		c.writeFlags(&m.Flags, m.UID)
		c.writeModSeq(m.ModSeq)
		c.w.Raw(")").CRLF()
	}
	return c.w.Err()
}

// writeVanishedEarlier writes "* VANISHED (EARLIER) uids" for the UIDs
// that vanished within filter (nil: all). "*" in the filter is the last
// UID ever assigned, since expunged UIDs may lie beyond the last present.
func (c *conn) writeVanishedEarlier(ch store.Changes, filter *wire.SeqSet) {
	vanished := ch.Vanished
	if len(vanished) == 0 {
		return
	}
	var keep store.UIDSet
	if filter == nil {
		keep = vanished
	} else {
		for _, r := range filter.Resolve(uint32(max(ch.UIDNext, 1)-1), false) {
			for _, v := range vanished {
				lo, hi := max(v.Lo, store.UID(r.Lo)), min(v.Hi, store.UID(r.Hi))
				if lo <= hi {
					keep = append(keep, store.UIDRange{Lo: lo, Hi: hi})
				}
			}
		}
		slices.SortFunc(keep, func(a, b store.UIDRange) int { return cmp.Compare(a.Lo, b.Lo) })
	}
	if len(keep) > 0 {
		c.w.Raw("* VANISHED (EARLIER) ").Raw(keep.SequenceSet()).CRLF()
	}
}

// sendUpdates tells the client what changed in the selected mailbox since
// it last looked (other sessions, deliveries): EXPUNGE, EXISTS and FETCH
// FLAGS. It asks the store only when an event for the mailbox arrived,
// unless force is set.
func (c *conn) sendUpdates(force bool) {
	sel := c.sel
	if !c.drainEvents(sel.mbox.ID) && !force && !c.pollDue() {
		return
	}
	// Even a failed look counts: the poll timer must not spin on a store
	// that is down.
	sel.looked = time.Now()
	ch, err := c.srv.Store.Changes(c.ctx, c.acct.ID, sel.mbox.ID, sel.modseq)
	if err != nil {
		c.logger().Warn("mailbox changes", "err", err)
		return
	}
	for _, r := range ch.Vanished {
		c.reportExpunged(sel.uids.present(store.UIDSet{r}))
	}
	c.announceKeywords(ch.Changed) // before the FETCH that carries a new one
	exists := false
	prevMax := sel.uids.maxUID()
	for i := range ch.Changed {
		m := &ch.Changed[i]
		if m.UID > sel.uids.maxUID() {
			sel.uids.append(m.UID)
			exists = true
			continue
		}
		if ms, ok := sel.own[m.UID]; ok && ms == m.ModSeq {
			continue
		}
		if seq, ok := sel.uids.seqOf(m.UID); ok {
			c.w.Raw("* ").Number(uint64(seq)).Raw(" FETCH (UID ").Number(uint64(m.UID)).Raw(" FLAGS ")
			c.writeFlags(&m.Flags, m.UID)
			c.writeModSeq(m.ModSeq)
			c.w.Raw(")").CRLF()
		}
	}
	if exists {
		c.w.Raw("* ").Number(uint64(sel.uids.len())).Raw(" EXISTS").CRLF()
		if !c.rev2 {
			// RFC 3501 §7.3.2: the new messages are recent to the first
			// session told about them; RECENT goes with EXISTS.
			last := sel.uids.maxUID()
			from := c.srv.recentFrom(c.ctx, sel.mbox.ID, last, !sel.readOnly)
			sel.noteRecent(max(from, prevMax+1), last)
			c.w.Raw("* ").Number(uint64(c.recentCount())).Raw(" RECENT").CRLF()
		}
	}
	c.contextsChanged(ch.Changed) // RFC 5267 §4.3: ADDTO/REMOVEFROM, after EXISTS
	clear(sel.own)
	if ch.HighestModSeq > sel.modseq {
		sel.modseq = ch.HighestModSeq
	}
}
