package server

import (
	"strings"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

var sysFlagNames = []struct {
	bit  store.SysFlags
	name string
}{
	{store.FlagSeen, `\Seen`},
	{store.FlagAnswered, `\Answered`},
	{store.FlagFlagged, `\Flagged`},
	{store.FlagDeleted, `\Deleted`},
	{store.FlagDraft, `\Draft`},
}

// writeFlags writes a flag list.
func (c *conn) writeFlags(f *store.Flags, uid store.UID) {
	w := c.w
	w.Byte('(')
	n := 0
	if c.isRecent(uid) {
		w.Raw(`\Recent`) // RFC 3501 §2.3.2, never stored
		n++
	}
	for _, s := range sysFlagNames {
		if f.System&s.bit != 0 {
			if n > 0 {
				w.SP()
			}
			w.Raw(s.name)
			n++
		}
	}
	for _, k := range f.Keywords {
		if n > 0 {
			w.SP()
		}
		w.Raw(k)
		n++
	}
	w.Byte(')')
}

// modifiedSet formats the UIDs that failed UNCHANGEDSINCE as UIDs or
// sequence numbers.
func (c *conn) modifiedSet(uid bool, s store.UIDSet) string {
	var nums []store.UID
	for _, u := range c.sel.uids.present(s) {
		if uid {
			nums = append(nums, u)
		} else if seq, ok := c.sel.uids.seqOf(u); ok {
			nums = append(nums, store.UID(seq))
		}
	}
	return store.UIDSetOf(nums).SequenceSet()
}

// parseFlags converts client flags. \Recent cannot be stored (RFC 9051
// §2.3.2) and is ignored, like other unknown system flags.
func parseFlags(in []string) store.Flags {
	var f store.Flags
next:
	for _, s := range in {
		if strings.HasPrefix(s, `\`) {
			for _, sf := range sysFlagNames {
				if strings.EqualFold(s, sf.name) {
					f.System |= sf.bit
					continue next
				}
			}
			continue
		}
		f.Keywords = append(f.Keywords, s)
	}
	return f
}

// cmdStore changes flags (RFC 9051 §6.4.6) and returns the new flags of
// the changed messages unless .SILENT.
func cmdStore(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.StoreArgs)
	if a.HasUnchangedSince {
		c.enableCondstore()
	}
	if c.sel.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	uids, err := c.targetUIDs(cmd.UID, a.Set)
	if err != nil || len(uids) == 0 {
		return err
	}
	op := map[wire.StoreOp]store.FlagOp{wire.StoreReplace: store.FlagReplace, wire.StoreAdd: store.FlagAdd, wire.StoreRemove: store.FlagRemove}[a.Op]
	flags := parseFlags(a.Flags)
	if op != store.FlagRemove {
		if err := c.checkKeywordLimit(c.sel.mbox.ID, flags.Keywords); err != nil {
			return err
		}
	}
	res, err := c.srv.Store.StoreFlags(c.ctx, c.acct.ID, c.sel.mbox.ID, uids, op, flags, store.ModSeq(a.UnchangedSince))
	if err != nil {
		return err
	}
	c.sel.noteOwn(res.Changed)
	c.trainFlags(op, flags, res.Changed)
	c.announceKeywords(res.Changed) // even with .SILENT: the mailbox's flags changed
	if len(res.Modified) > 0 {
		// RFC 7162 §3.1.3: the messages that failed UNCHANGEDSINCE, in
		// the numbers the client used.
		c.okCode = "MODIFIED " + c.modifiedSet(cmd.UID, res.Modified)
	}
	if a.Silent && !c.condstore {
		// RFC 2180 §4.2: messages expunged by another session are left
		// alone; .SILENT asked for no answer about them (Dovecot too).
		return nil
	}
	// RFC 2180 §4.2.1 (as Dovecot): a message of the view that another
	// session expunged is not changed, the others are, and the command
	// ends in NO [EXPUNGEISSUED] (RFC 5530 §3) so that the client does
	// not believe its flags were set. MODIFIED, when there is one, is the
	// more useful answer and wins.
	expunged := false
	if !a.Silent && len(res.Modified) == 0 && uint64(len(res.Changed)) < c.sel.uids.count(uids) {
		if expunged, err = c.expungedIn(uids); err != nil {
			return err
		}
	}
	for i := range res.Changed {
		m := &res.Changed[i]
		seq, ok := c.sel.uids.seqOf(m.UID)
		if !ok {
			continue
		}
		c.w.Raw("* ").Number(uint64(seq)).Raw(" FETCH (")
		if cmd.UID {
			c.w.Raw("UID ").Number(uint64(m.UID)).SP()
		}
		c.w.Raw("FLAGS ")
		c.writeFlags(&m.Flags, m.UID)
		c.writeModSeq(m.ModSeq)
		c.w.Raw(")").CRLF()
	}
	if expunged {
		return no("EXPUNGEISSUED", "some of the messages no longer exist")
	}
	return c.w.Err()
}

// expungedIn reports whether messages of set in the session's view are no
// longer in the mailbox (expunged by another session, not yet reported).
func (c *conn) expungedIn(set store.UIDSet) (bool, error) {
	var live uint64
	err := c.srv.Store.ListMessages(c.ctx, c.acct.ID, c.sel.mbox.ID, store.ListOptions{UIDs: set}, func(m *store.Message) error {
		if _, ok := c.sel.uids.seqOf(m.UID); ok {
			live++
		}
		return nil
	})
	return live < c.sel.uids.count(set), err
}
