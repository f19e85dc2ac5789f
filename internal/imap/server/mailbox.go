package server

import (
	"sort"
	"strings"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

const delim = string(store.Delimiter)

// cmdNamespace answers RFC 2342: one personal namespace, no others.
func cmdNamespace(c *conn, _ *wire.Command) error {
	c.w.Raw(`* NAMESPACE (("" "/")) NIL NIL`).CRLF()
	return nil
}

// matcher compiles a LIST pattern (RFC 9051 §6.3.9: "*" matches anything,
// "%" anything but the delimiter). Matching is by dynamic programming, so
// hostile patterns cost O(len(pattern)·len(name)).
func matcher(pattern string) func(name string) bool {
	// RFC 9051 §5.1: INBOX is case-insensitive, also as a parent.
	if len(pattern) >= 5 && strings.EqualFold(pattern[:5], "INBOX") {
		pattern = "INBOX" + pattern[5:]
	}
	p := []rune(pattern)
	return func(name string) bool {
		s := []rune(name)
		// cur[j]: p[:i] matches s[:j]
		cur := make([]bool, len(s)+1)
		next := make([]bool, len(s)+1)
		cur[0] = true
		for i := 0; i < len(p); i++ {
			for j := range next {
				next[j] = false
			}
			switch p[i] {
			case '*', '%':
				ok := false
				for j := 0; j <= len(s); j++ {
					ok = ok || cur[j]
					next[j] = ok
					if p[i] == '%' && j < len(s) && s[j] == store.Delimiter {
						ok = false
					}
				}
			default:
				for j := 1; j <= len(s); j++ {
					next[j] = cur[j-1] && s[j-1] == p[i]
				}
			}
			cur, next = next, cur
		}
		return cur[len(s)]
	}
}

// listEntry is a name in a LIST answer: a mailbox, or a parent that only
// exists because of its children.
type listEntry struct {
	name      string
	mbox      *store.Mailbox // nil for an implied parent
	children  bool
	subscribe bool
	childInfo bool // has subscribed descendants not listed (RECURSIVEMATCH)
	// lsubNoselect: listed by LSUB only for a subscribed child (RFC 3501
	// §6.3.9), so \Noselect although the mailbox may exist.
	lsubNoselect bool
}

// cmdList answers LIST and LSUB, with the LIST-EXTENDED selection and
// return options (RFC 5258) and RETURN STATUS (RFC 5819).
func cmdList(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.ListArgs)
	if cmd.Name == "LIST" && len(a.Patterns) == 1 && a.Patterns[0] == "" && !a.Extended {
		// RFC 9051 §6.3.9: the delimiter and root.
		c.w.Raw(`* LIST (\Noselect) "/" ""`).CRLF()
		return nil
	}
	opts := map[string]bool{}
	for _, o := range a.SelectOpts {
		switch o {
		case "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE":
			opts["sel:"+o] = true
		default:
			return bad("", "unknown LIST selection option "+o)
		}
	}
	if opts["sel:RECURSIVEMATCH"] && !opts["sel:SUBSCRIBED"] {
		return bad("", "RECURSIVEMATCH needs another selection option") // RFC 5258 §3
	}
	for _, o := range a.ReturnOpts {
		switch o {
		case "SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS":
			opts["ret:"+o] = true
		default:
			return bad("", "unknown LIST return option "+o)
		}
	}
	if a.Unmatchable && len(a.Patterns) == 0 {
		// RFC 3501 §5.1.3: a pattern that is not valid modified UTF-7
		// names no mailbox; the answer is an empty list, not an error.
		return nil
	}
	entries, err := c.listEntries(cmd.Name == "LSUB" || opts["sel:SUBSCRIBED"])
	if err != nil {
		return err
	}
	var match []func(string) bool
	for _, p := range a.Patterns {
		full := p
		if a.Reference != "" && !strings.HasPrefix(p, delim) {
			full = strings.TrimSuffix(a.Reference, delim) + delim + p
		}
		match = append(match, matcher(full))
	}
	subsOnly := cmd.Name == "LSUB" || opts["sel:SUBSCRIBED"]
	hidden := hiddenSubscribedParents(entries, match)
	for _, e := range entries {
		if !matchAny(match, e.name) {
			continue
		}
		switch {
		case cmd.Name == "LSUB":
			// RFC 3501 §6.3.9: with "%", a parent that is not
			// subscribed but has a subscribed child the wildcard does
			// not reach is returned with \Noselect.
			if !e.subscribe && !hidden[e.name] {
				continue
			}
			e.lsubNoselect = !e.subscribe
		case subsOnly:
			// RFC 5258 §3.5: RECURSIVEMATCH also returns a parent
			// that does not match the selection but has a descendant
			// that does, with CHILDINFO. That item is for a matching
			// descendant not itself returned: servers SHOULD suppress
			// redundant CHILDINFO, so a parent whose matching
			// children are all listed gets none (and, if it does not
			// match itself, is not listed at all).
			e.childInfo = opts["sel:RECURSIVEMATCH"] && hidden[e.name]
			if !e.subscribe && !e.childInfo {
				continue
			}
		}
		if opts["sel:SPECIAL-USE"] && (e.mbox == nil || e.mbox.SpecialUse == "") {
			continue
		}
		c.writeListEntry(cmd.Name, e, opts, a.StatusItems)
	}
	return c.w.Err()
}

// hiddenSubscribedParents returns the names that have a subscribed
// descendant which no pattern matches, so that the LIST or LSUB answer does
// not show it: RFC 3501 §6.3.9 (LSUB \Noselect parents) and RFC 5258 §3.5
// (CHILDINFO).
func hiddenSubscribedParents(entries []listEntry, match []func(string) bool) map[string]bool {
	hidden := map[string]bool{}
	for _, e := range entries {
		if !e.subscribe || matchAny(match, e.name) {
			continue
		}
		for i := strings.LastIndexByte(e.name, store.Delimiter); i > 0; i = strings.LastIndexByte(e.name[:i], store.Delimiter) {
			if hidden[e.name[:i]] {
				break // its ancestors are marked already
			}
			hidden[e.name[:i]] = true
		}
	}
	return hidden
}

func matchAny(ms []func(string) bool, name string) bool {
	for _, m := range ms {
		if m(name) {
			return true
		}
	}
	return false
}

func (c *conn) writeListEntry(name string, e listEntry, opts map[string]bool, statusItems []string) {
	var attrs []string
	if e.mbox == nil || e.lsubNoselect {
		// RFC 5258 §3.4: a name that is no mailbox but is listed for
		// a subscription or for CHILDINFO is \NonExistent.
		if e.mbox == nil && (e.subscribe || e.childInfo) {
			attrs = append(attrs, `\NonExistent`)
		} else {
			attrs = append(attrs, `\Noselect`)
		}
	}
	if name == "LIST" {
		// RFC 3348 CHILDREN; RFC 9051 §7.3.1 lets us always send them.
		if e.children {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if e.mbox != nil && e.mbox.SpecialUse != "" {
			attrs = append(attrs, e.mbox.SpecialUse) // RFC 6154 §2
		}
		if (opts["ret:SUBSCRIBED"] || opts["sel:SUBSCRIBED"]) && e.subscribe {
			attrs = append(attrs, `\Subscribed`)
		}
	}
	c.w.Raw("* ").Raw(name).SP().Flags(attrs).Raw(` "/" `).Mailbox(e.name)
	if e.childInfo {
		c.w.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`) // RFC 5258 §3.5
	}
	c.w.CRLF()
	if opts["ret:STATUS"] && e.mbox != nil {
		// RFC 5819 §2: the STATUS follows its LIST response.
		c.writeStatus(e.mbox, statusItems)
	}
}

// listEntries returns every mailbox, with implied parents, sorted.
func (c *conn) listEntries(withSubs bool) ([]listEntry, error) {
	mboxes, err := c.srv.Store.Mailboxes(c.ctx, c.acct.ID)
	if err != nil {
		return nil, err
	}
	byName := map[string]*listEntry{}
	for i := range mboxes {
		m := &mboxes[i]
		byName[m.Name] = &listEntry{name: m.Name, mbox: m, subscribe: m.Subscribed}
	}
	if withSubs {
		subs, err := c.srv.Store.Subscriptions(c.ctx, c.acct.ID)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if e := byName[s]; e != nil {
				e.subscribe = true
			} else {
				byName[s] = &listEntry{name: s, subscribe: true}
			}
		}
	}
	for name := range byName {
		for i := strings.LastIndexByte(name, store.Delimiter); i > 0; i = strings.LastIndexByte(name[:i], store.Delimiter) {
			parent := name[:i]
			if e := byName[parent]; e != nil {
				e.children = true
			} else {
				byName[parent] = &listEntry{name: parent, children: true}
			}
		}
	}
	out := make([]listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// cmdCreate creates a mailbox, with USE of CREATE-SPECIAL-USE (RFC 6154 §3).
func cmdCreate(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.CreateArgs)
	name := strings.TrimSuffix(a.Mailbox, delim) // RFC 9051 §6.3.4
	if strings.EqualFold(name, "INBOX") {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	use := ""
	switch len(a.SpecialUse) {
	case 0:
	case 1:
		switch u := a.SpecialUse[0]; {
		case strings.EqualFold(u, store.SpecialDrafts), strings.EqualFold(u, store.SpecialSent),
			strings.EqualFold(u, store.SpecialTrash), strings.EqualFold(u, store.SpecialJunk),
			strings.EqualFold(u, store.SpecialArchive):
			use = canonicalSpecial(u)
		default:
			return no("USEATTR", "unsupported special-use attribute")
		}
	default:
		return no("USEATTR", "one special-use attribute per mailbox")
	}
	if name == "" {
		return no("CANNOT", "empty mailbox name")
	}
	_, err := c.srv.Store.CreateMailbox(c.ctx, c.acct.ID, name, use)
	return err
}

func canonicalSpecial(u string) string {
	for _, s := range []string{store.SpecialDrafts, store.SpecialSent, store.SpecialTrash, store.SpecialJunk, store.SpecialArchive} {
		if strings.EqualFold(s, u) {
			return s
		}
	}
	return ""
}

func cmdDelete(c *conn, cmd *wire.Command) error {
	name := cmd.Args.(*wire.MailboxArgs).Mailbox
	if name == "INBOX" {
		return no("CANNOT", "INBOX cannot be deleted")
	}
	if c.sel != nil && c.sel.mbox.Name == name {
		return no("INUSE", "mailbox is selected")
	}
	return c.srv.Store.DeleteMailbox(c.ctx, c.acct.ID, name)
}

func cmdRename(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.RenameArgs)
	return c.srv.Store.RenameMailbox(c.ctx, c.acct.ID, a.From, strings.TrimSuffix(a.To, delim))
}

func cmdSubscribe(c *conn, cmd *wire.Command) error {
	name := cmd.Args.(*wire.MailboxArgs).Mailbox
	return c.srv.Store.SetSubscribed(c.ctx, c.acct.ID, name, cmd.Name == "SUBSCRIBE")
}

// cmdStatus answers STATUS (RFC 9051 §6.3.11, SIZE of RFC 8438).
func cmdStatus(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.StatusArgs)
	for _, it := range a.Items {
		switch it {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT":
		case "HIGHESTMODSEQ":
			c.enableCondstore() // RFC 7162 §3.1.2
		default:
			return bad("", "unknown STATUS item "+it)
		}
	}
	m, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, a.Mailbox)
	if err != nil {
		return err
	}
	c.writeStatus(&m, a.Items)
	return c.w.Err()
}

func (c *conn) writeStatus(m *store.Mailbox, items []string) {
	c.w.Raw("* STATUS ").Mailbox(m.Name).Raw(" (")
	n := 0
	for _, it := range items {
		var v uint64
		switch it {
		case "MESSAGES":
			v = uint64(m.Messages)
		case "UIDNEXT":
			v = uint64(m.UIDNext)
		case "UIDVALIDITY":
			v = uint64(m.UIDValidity)
		case "UNSEEN":
			v = uint64(m.Unseen)
		case "SIZE":
			v = uint64(m.Size)
		case "HIGHESTMODSEQ":
			v = uint64(m.HighestModSeq)
		case "RECENT":
			// RFC 3501 §6.3.10: messages recent to the next session
			// that selects the mailbox (recent.go); nothing is claimed.
			from := c.srv.recentFrom(c.ctx, m.ID, m.UIDNext-1, false)
			uids, err := c.srv.Store.Search(c.ctx, c.acct.ID, m.ID, store.Query{UIDs: store.UIDSet{{Lo: from, Hi: max(from, m.UIDNext)}}})
			if err != nil {
				continue
			}
			v = uint64(len(uids))
		case "DELETED":
			uids, err := c.srv.Store.Search(c.ctx, c.acct.ID, m.ID, store.Query{FlagsSet: store.FlagDeleted})
			if err != nil {
				continue
			}
			v = uint64(len(uids))
		default:
			continue
		}
		if n > 0 {
			c.w.SP()
		}
		n++
		c.w.Raw(it).SP().Number(v)
	}
	c.w.Raw(")").CRLF()
}

// cmdGetQuotaRoot answers RFC 9208 §4.3: one quota root "" per account.
func cmdGetQuotaRoot(c *conn, cmd *wire.Command) error {
	name := cmd.Args.(*wire.MailboxArgs).Mailbox
	if _, err := c.srv.Store.Mailbox(c.ctx, c.acct.ID, name); err != nil {
		return err
	}
	c.w.Raw("* QUOTAROOT ").Mailbox(name).Raw(` ""`).CRLF()
	return c.writeQuota()
}

func cmdGetQuota(c *conn, cmd *wire.Command) error {
	if cmd.Args.(*wire.GetQuotaArgs).Root != "" {
		return no("NONEXISTENT", "no such quota root")
	}
	return c.writeQuota()
}

// writeQuota writes the STORAGE resource in KiB (RFC 9208 §5.1), or an
// empty list when the account has no limit.
func (c *conn) writeQuota() error {
	used, limit, err := c.srv.Store.Quota(c.ctx, c.acct.ID)
	if err != nil {
		return err
	}
	c.w.Raw(`* QUOTA "" (`)
	if limit > 0 {
		c.w.Raw("STORAGE ").Number(uint64((used + 1023) / 1024)).SP().Number(uint64(limit / 1024))
	}
	c.w.Raw(")").CRLF()
	return c.w.Err()
}
