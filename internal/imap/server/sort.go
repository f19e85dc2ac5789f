package server

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// sortRec is one message found by SORT with the values of its sort keys.
// Strings are kept as i;unicode-casemap keys (casemapKey), the collation
// RFC 5256 §3 requires, so that comparing them is strings.Compare.
type sortRec struct {
	uid     store.UID
	seq     uint32
	modseq  store.ModSeq
	arrival time.Time
	date    time.Time
	size    int64
	subject string
	from    string
	to      string
	cc      string
	dfrom   string
	dto     string
}

// cmdSort answers SORT and UID SORT (RFC 5256 §3), with the return
// options of ESORT (RFC 5267 §3) and CONTEXT=SORT (§4). The search
// program is evaluated as for SEARCH; the sort keys of each message found
// are taken from the store row and its stored parse, never from the
// message itself.
func cmdSort(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.SortArgs)
	ret := returnOpts{opts: a.Return, partial: a.Partial}
	if ret.has("SAVE") {
		c.sel.saved = nil // RFC 5182 §2.4
	}
	key := a.Key
	if err := decodeSearchCharset(&key, a.Charset); err != nil {
		return err
	}
	if err := c.checkUpdateTag(cmd.Tag, ret); err != nil {
		return err
	}
	// RFC 7162 §3.1.5: with a MODSEQ key, SORT too carries a mod-sequence.
	withModSeq := hasKey(&key, "MODSEQ")
	if withModSeq {
		c.enableCondstore()
	}
	// An UPDATE context needs the sort keys of every result, computed
	// now; otherwise the sorted UIDs are enough, and may come from the
	// cache.
	ck := resultKey("SORT", &key, a.Keys)
	if ret.has("UPDATE") {
		ck = ""
	}
	var found []*sortRec
	uids, modseqs, err := c.cachedSearch(ck, func() ([]store.UID, []store.ModSeq, error) {
		var err error
		if found, err = c.sortProgram(&key, nil, a.Keys); err != nil {
			return nil, nil, err
		}
		return recUIDs(found, withModSeq)
	})
	if err != nil {
		return err
	}
	if ret.has("SAVE") {
		c.sel.saved = ret.savedSet(uids)
	}
	if !a.HasReturn {
		c.writeSort(cmd.UID, uids, ret.maxModSeq(modseqs))
	} else {
		// RFC 5267 §3: the extended SORT answers with ESEARCH, in sort
		// order.
		c.writeESearch(cmd.Tag, cmd.UID, ret, uids, modseqs)
	}
	if ret.has("UPDATE") {
		byUID := make(map[store.UID]*sortRec, len(found))
		for _, r := range found {
			byUID[r.uid] = r
		}
		c.addContext(&updateContext{tag: cmd.Tag, uid: cmd.UID, key: key, sortKeys: a.Keys, recs: found, byUID: byUID})
	}
	return c.w.Err()
}

// recUIDs lists the UIDs of recs, and their mod-sequences when
// withModSeq.
func recUIDs(recs []*sortRec, withModSeq bool) ([]store.UID, []store.ModSeq, error) {
	uids := make([]store.UID, len(recs))
	var modseqs []store.ModSeq
	if withModSeq {
		modseqs = make([]store.ModSeq, len(recs))
	}
	for i, r := range recs {
		uids[i] = r.uid
		if withModSeq {
			modseqs[i] = r.modseq
		}
	}
	return uids, modseqs, nil
}

// sortProgram finds the messages of the program key (within a UID set
// when not nil) and returns them sorted by keys.
func (c *conn) sortProgram(key *wire.SearchKey, within store.UIDSet, keys []wire.SortKey) ([]*sortRec, error) {
	recs := make(map[store.UID]*sortRec)
	uids, err := c.matchProgram(key, within, sortNeedsInfo(keys), func(m *store.Message, seq uint32) {
		recs[m.UID] = newSortRecFor(m, seq, keys)
	})
	if err != nil {
		return nil, err
	}
	found := make([]*sortRec, 0, len(uids))
	for _, u := range uids {
		if r := recs[u]; r != nil {
			found = append(found, r)
		}
	}
	sortRecs(found, keys)
	return found, nil
}

// writeSort writes "* SORT n ..." (RFC 5256 §4), with the MODSEQ of RFC
// 7162 §3.1.5 when the program had a MODSEQ key and found something.
func (c *conn) writeSort(uid bool, uids []store.UID, modSeq store.ModSeq) {
	w := c.w
	w.Raw("* SORT")
	for _, u := range uids {
		w.SP().Number(uint64(c.number(uid, u)))
	}
	if modSeq > 0 && len(uids) > 0 {
		w.Raw(" (MODSEQ ").Number(uint64(modSeq)).Byte(')')
	}
	w.CRLF()
}

func sortNeedsInfo(keys []wire.SortKey) bool {
	for _, k := range keys {
		if k.Key != "ARRIVAL" && k.Key != "SIZE" {
			return true
		}
	}
	return false
}

// newSortRec computes the sort values of m. Info is absent when no key
// needs it; the string keys are then empty and unused.
func newSortRec(m *store.Message, seq uint32) *sortRec {
	return newSortRecFor(m, seq, nil)
}

// newSortRecFor computes the values of the sort keys keys only (all of
// them when keys is nil): building the i;unicode-casemap key of a subject
// costs more than comparing it, and a SORT by DATE needs none.
func newSortRecFor(m *store.Message, seq uint32, keys []wire.SortKey) *sortRec {
	r := &sortRec{uid: m.UID, seq: seq, modseq: m.ModSeq, arrival: m.InternalDate, size: m.Size, date: m.InternalDate}
	if m.Info == nil {
		return r
	}
	info, err := message.UnmarshalInfo(m.Info)
	if err != nil || info == nil {
		return r
	}
	need := func(k string) bool {
		return keys == nil || slices.ContainsFunc(keys, func(s wire.SortKey) bool { return s.Key == k })
	}
	// RFC 5256 §2.2: the sent date is the Date: header, or INTERNALDATE
	// when it is missing or cannot be parsed.
	if !info.SentDate.IsZero() {
		r.date = info.SentDate
	}
	env := &info.Envelope
	if need("SUBJECT") {
		r.subject = casemapKey(baseSubject(info.Subject))
	}
	if need("FROM") {
		r.from = casemapKey(addrMailbox(env.From))
	}
	if need("TO") {
		r.to = casemapKey(addrMailbox(env.To))
	}
	if need("CC") {
		r.cc = casemapKey(addrMailbox(env.Cc))
	}
	if need("DISPLAYFROM") {
		r.dfrom = casemapKey(displayAddr(env.From))
	}
	if need("DISPLAYTO") {
		r.dto = casemapKey(displayAddr(env.To))
	}
	return r
}

// sortAddr is the first entry of an ENVELOPE address list that is an
// address or the start of a group, nil when there is none. A group start
// (RFC 9051 §7.5.2: NIL host, the group name as mailbox name) counts: the
// sort key of "undisclosed-recipients:;" is the group name, as in Dovecot,
// rather than the next address or nothing.
func sortAddr(list []message.Address) *message.Address {
	for i := range list {
		if list[i].Host != "" || list[i].Mailbox != "" {
			return &list[i]
		}
	}
	return nil
}

// firstAddr is the first address of list that is not a group marker.
func firstAddr(list []message.Address) *message.Address {
	for i := range list {
		if list[i].Host != "" {
			return &list[i]
		}
	}
	return nil
}

// addrMailbox is the addr-mailbox (local part) of the first address, the
// FROM, TO and CC sort value of RFC 5256 §3, or the group name when the
// list starts with a group; "" without an address.
func addrMailbox(list []message.Address) string {
	if a := sortAddr(list); a != nil {
		return a.Mailbox
	}
	return ""
}

// displayAddr is the DISPLAYFROM/DISPLAYTO sort value of RFC 5957 §3: the
// decoded display name of the first address, or its addr-spec when it
// has none; the group name when the list starts with a group.
func displayAddr(list []message.Address) string {
	a := sortAddr(list)
	if a == nil {
		return ""
	}
	if a.Host == "" {
		return strings.TrimSpace(message.DecodeHeader(a.Mailbox))
	}
	if name := strings.TrimSpace(message.DecodeHeader(a.Name)); name != "" {
		return name
	}
	return a.Mailbox + "@" + a.Host
}

// sortRecs orders recs by keys; messages equal on every key stay in
// sequence order (RFC 5256 §3), whatever REVERSE says.
func sortRecs(recs []*sortRec, keys []wire.SortKey) {
	slices.SortFunc(recs, func(x, y *sortRec) int { return compareRecs(keys, x, y) })
}

// compareRecs orders two messages by keys, then by UID: sequence order
// and UID order are the same in a session's view, and unlike sequence
// numbers UIDs do not change when messages are expunged, which keeps the
// order of an update context (context.go) stable.
func compareRecs(keys []wire.SortKey, x, y *sortRec) int {
	for _, k := range keys {
		c := compareKey(k.Key, x, y)
		if k.Reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(x.uid, y.uid)
}

func compareKey(key string, x, y *sortRec) int {
	switch key {
	case "ARRIVAL":
		return x.arrival.Compare(y.arrival)
	case "DATE":
		return x.date.Compare(y.date) // instants, so zones do not matter
	case "SIZE":
		return cmp.Compare(x.size, y.size)
	case "SUBJECT":
		return strings.Compare(x.subject, y.subject)
	case "FROM":
		return strings.Compare(x.from, y.from)
	case "TO":
		return strings.Compare(x.to, y.to)
	case "CC":
		return strings.Compare(x.cc, y.cc)
	case "DISPLAYFROM":
		return strings.Compare(x.dfrom, y.dfrom)
	case "DISPLAYTO":
		return strings.Compare(x.dto, y.dto)
	}
	return 0
}
