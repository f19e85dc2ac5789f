package server

import (
	"slices"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// cmdCopy answers COPY and MOVE (RFC 9051 §6.4.7, §6.4.8) with the
// COPYUID response code of UIDPLUS (RFC 4315 §3).
func cmdCopy(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.CopyArgs)
	if cmd.Name == "MOVE" && c.sel.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	uids, err := c.targetUIDs(cmd.UID, a.Set)
	if err != nil {
		return err
	}
	dst, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, a.Mailbox)
	if err != nil {
		return no("TRYCREATE", "no such mailbox") // RFC 9051 §6.4.7
	}
	// The messages of the session's view, exactly: those another session
	// expunged are still in it until this one is told (RFC 9051 §7.5.1),
	// and the store still has them (retained). They are copied too, and
	// moved without being expunged a second time. A message gone beyond
	// the retention fails the command whole, copying nothing (RFC 2180
	// §4.4.1; Dovecot fails COPY too): NO [EXPUNGEISSUED].
	uids = c.sel.uids.viewSet(uids)
	if len(uids) == 0 {
		return nil
	}
	if dst.ID != c.sel.mbox.ID {
		if err := c.checkCopyKeywords(dst.ID, uids); err != nil {
			return err
		}
	}
	opt := store.CopyOptions{Move: cmd.Name == "MOVE", Retained: true, Exact: true}
	res, err := c.srv.Store.CopyMessages(c.ctx, c.acct.ID, c.sel.mbox.ID, uids, dst.ID, opt)
	if err != nil {
		return err
	}
	if len(res.Pairs) == 0 {
		return nil
	}
	src := make([]store.UID, len(res.Pairs))
	dstUIDs := make([]store.UID, len(res.Pairs))
	for i, p := range res.Pairs {
		src[i], dstUIDs[i] = p.Src, p.Dst
	}
	c.trainCopy(dst, dstUIDs)
	code := "COPYUID " + itoa(uint64(res.UIDValidity)) + " " + store.UIDSetOf(src).SequenceSet() + " " + store.UIDSetOf(dstUIDs).SequenceSet()
	if cmd.Name == "MOVE" {
		// RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
		c.w.Raw("* OK [").Raw(code).Raw("] moved").CRLF()
		c.reportExpunged(sortedUIDs(src))
		return c.w.Err()
	}
	c.okCode = code
	return nil
}

// viewSet returns the UIDs of set that are in the session's view, as
// ranges (runs are split by gaps, so the result names no other UID).
func (m *uidMap) viewSet(set store.UIDSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range set {
		for i := m.runOf(r.Lo); i < len(m.runs) && m.runs[i].lo <= r.Hi; i++ {
			if lo, hi := max(r.Lo, m.runs[i].lo), min(r.Hi, m.runs[i].hi); lo <= hi {
				out = out.AppendRange(lo, hi)
			}
		}
	}
	return out
}

func sortedUIDs(u []store.UID) []store.UID {
	out := slices.Clone(u)
	slices.Sort(out)
	return out
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
