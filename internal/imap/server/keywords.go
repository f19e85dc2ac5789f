package server

import (
	"strings"

	"github.com/youju/youju/internal/store"
)

// MaxMailboxKeywords bounds the keywords one mailbox may use. Clients use
// a handful ($Forwarded, $Junk, $label1…); a client that invents one per
// message would make every FLAGS response and SELECT grow without end. Cyrus
// has the same bound of 128 user flags per mailbox. A STORE or APPEND that
// would go beyond gets NO [LIMIT] (RFC 5530 §3).
const MaxMailboxKeywords = 128

// systemFlagList is the FLAGS list of system flags (RFC 9051 §7.3.5).
const systemFlagList = `\Answered \Flagged \Deleted \Seen \Draft`

// setKeywords sets the keywords used in the selected mailbox.
func (sel *selected) setKeywords(kws []string) {
	sel.keywords = kws
	sel.known = make(map[string]bool, len(kws))
	for _, k := range kws {
		sel.known[strings.ToLower(k)] = true
	}
}

// writeFlagsResponses writes FLAGS and, for a read-write mailbox,
// PERMANENTFLAGS: the system flags and every keyword used in the mailbox
// (RFC 9051 §7.3.5, §7.1; RFC 3501 §7.2.6). "\*" says that new keywords
// can be created, so it goes once the mailbox reached its bound. A
// read-only mailbox keeps nothing: PERMANENTFLAGS () as in the EXAMINE
// example of RFC 3501 §6.3.2 and RFC 9051 §6.3.3.
func (c *conn) writeFlagsResponses(sel *selected, permanent bool) {
	w := c.w
	w.Raw(`* FLAGS (` + systemFlagList)
	for _, k := range sel.keywords {
		w.SP().Raw(k)
	}
	w.Raw(")").CRLF()
	if !permanent {
		return
	}
	if sel.readOnly {
		w.Raw(`* OK [PERMANENTFLAGS ()] read-only mailbox`).CRLF()
		return
	}
	w.Raw(`* OK [PERMANENTFLAGS (` + systemFlagList)
	for _, k := range sel.keywords {
		w.SP().Raw(k)
	}
	if len(sel.keywords) < MaxMailboxKeywords {
		w.Raw(` \*`)
	}
	w.Raw(")] flags permitted").CRLF()
}

// announceKeywords sends a new FLAGS response (and PERMANENTFLAGS) when
// msgs carry a keyword the client was not told of yet: the set of flags
// of the mailbox changed (RFC 9051 §7.3.5, RFC 3501 §7.2.6), and the
// client must learn it before a FETCH that carries the keyword. It must
// be called between responses, never inside one.
func (c *conn) announceKeywords(msgs []store.Message) {
	added := false
	for i := range msgs {
		added = c.learnKeywords(msgs[i].Flags.Keywords) || added
	}
	if added {
		c.writeFlagsResponses(c.sel, true)
	}
}

// announceKeywordsOf is announceKeywords for one message's keywords (FETCH:
// no allocation on its path).
func (c *conn) announceKeywordsOf(kws []string) {
	if len(kws) > 0 && c.learnKeywords(kws) {
		c.writeFlagsResponses(c.sel, true)
	}
}

// learnKeywords adds the keywords the session did not know and reports
// whether there were any.
func (c *conn) learnKeywords(kws []string) bool {
	sel := c.sel
	if sel == nil {
		return false
	}
	added := false
	for _, k := range kws {
		if sel.known[k] {
			continue // the usual case: known in the spelling stored
		}
		l := strings.ToLower(k)
		if sel.known[l] {
			continue
		}
		if sel.known == nil {
			sel.known = map[string]bool{}
		}
		sel.known[l] = true
		sel.keywords = append(sel.keywords, k)
		added = true
	}
	return added
}

// checkKeywordLimit refuses flags that would bring the keywords of mbox
// over MaxMailboxKeywords. The count is read before the change, so two
// sessions adding different keywords at once may pass it by a few: it is
// a bound on growth, not an exact quota.
func (c *conn) checkKeywordLimit(mbox store.MailboxID, kws []string) error {
	if len(kws) == 0 {
		return nil
	}
	if sel := c.sel; sel != nil && sel.mbox.ID == mbox && allKnown(sel.known, kws) {
		return nil // the common case (Junk, $Forwarded again): no scan
	}
	cur, err := store.MailboxKeywords(c.ctx, c.srv.Store, c.acct.ID, mbox)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(cur)+len(kws))
	for _, k := range cur {
		seen[strings.ToLower(k)] = true
	}
	n := len(cur)
	for _, k := range kws {
		if l := strings.ToLower(k); !seen[l] {
			seen[l] = true
			n++
		}
	}
	if n > len(cur) && n > MaxMailboxKeywords {
		return no("LIMIT", "too many keywords in this mailbox (at most "+itoa(uint64(MaxMailboxKeywords))+")")
	}
	return nil
}

func allKnown(known map[string]bool, kws []string) bool {
	for _, k := range kws {
		if !known[strings.ToLower(k)] {
			return false
		}
	}
	return true
}

// checkCopyKeywords applies the keyword bound to a COPY or MOVE into dst:
// the copies keep their keywords (RFC 9051 §6.4.7), so the destination
// would gain those it does not use yet. The keywords of the whole source
// mailbox, which the session knows, are checked first; only when they do
// not fit are the copied messages' own keywords read.
func (c *conn) checkCopyKeywords(dst store.MailboxID, uids store.UIDSet) error {
	if len(c.sel.keywords) == 0 || c.checkKeywordLimit(dst, c.sel.keywords) == nil {
		return nil
	}
	var kws []string
	seen := map[string]bool{}
	err := c.srv.Store.ListMessages(c.ctx, c.acct.ID, c.sel.mbox.ID, store.ListOptions{UIDs: uids, Retained: true}, func(m *store.Message) error {
		for _, k := range m.Flags.Keywords {
			if l := strings.ToLower(k); !seen[l] {
				seen[l] = true
				kws = append(kws, k)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.checkKeywordLimit(dst, kws)
}
