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
// Strings are compared after strings.ToLower, our approximation of the
// i;unicode-casemap collation that RFC 5256 §3 requires (RFC 5051): it
// folds case but does not decompose or titlecase.
type sortRec struct {
	uid     store.UID
	seq     uint32
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

// cmdSort answers SORT and UID SORT (RFC 5256 §3). The search program is
// evaluated as for SEARCH; the sort keys of each message found are taken
// from the store row and its stored parse, never from the message itself.
func cmdSort(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.SortArgs)
	key := a.Key
	if err := decodeSearchCharset(&key, a.Charset); err != nil {
		return err
	}
	sel := c.sel
	if sel.uids.len() == 0 {
		return c.writeSort(nil, 0)
	}
	q := store.Query{}
	var rest []wire.SearchKey
	for _, k := range key.Sub {
		if !c.indexKey(&q, k) {
			rest = append(rest, k)
		}
	}
	if q.UIDs == nil {
		q.UIDs = store.UIDSet{{Lo: 1, Hi: sel.uids.maxUID()}}
	}
	// RFC 7162 §3.1.5: with a MODSEQ key, SORT too carries the highest
	// mod-sequence of the messages found.
	withModSeq := hasKey(&key, "MODSEQ")
	if withModSeq {
		c.enableCondstore()
	}
	and := wire.SearchKey{Key: "AND", Sub: rest}
	ev := &evaluator{c: c, now: time.Now()}
	q.NeedInfo = needsInfo(&and) || sortNeedsInfo(a.Keys)
	recs := make(map[store.UID]*sortRec)
	var maxModSeq store.ModSeq
	q.Match = func(m *store.Message) (bool, error) {
		if len(rest) > 0 {
			if ok, err := ev.match(&and, m); !ok || err != nil {
				return ok, err
			}
		}
		seq, known := sel.uids.seqOf(m.UID)
		if !known {
			return false, nil
		}
		if withModSeq && m.ModSeq > maxModSeq {
			maxModSeq = m.ModSeq
		}
		recs[m.UID] = newSortRec(m, seq)
		return true, nil
	}
	uids, err := c.srv.Store.Search(c.ctx, c.acct.ID, sel.mbox.ID, q)
	if err != nil {
		return err
	}
	found := make([]*sortRec, 0, len(uids))
	for _, u := range uids {
		if r := recs[u]; r != nil {
			found = append(found, r)
		}
	}
	sortRecs(found, a.Keys)
	nums := make([]uint32, len(found))
	for i, r := range found {
		nums[i] = r.seq
		if cmd.UID {
			nums[i] = uint32(r.uid)
		}
	}
	return c.writeSort(nums, maxModSeq)
}

// writeSort writes "* SORT n ..." (RFC 5256 §4), with the MODSEQ of RFC
// 7162 §3.1.5 when the program had a MODSEQ key and found something.
func (c *conn) writeSort(nums []uint32, modSeq store.ModSeq) error {
	w := c.w
	w.Raw("* SORT")
	for _, n := range nums {
		w.SP().Number(uint64(n))
	}
	if modSeq > 0 && len(nums) > 0 {
		w.Raw(" (MODSEQ ").Number(uint64(modSeq)).Byte(')')
	}
	w.CRLF()
	return w.Err()
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
	r := &sortRec{uid: m.UID, seq: seq, arrival: m.InternalDate, size: m.Size, date: m.InternalDate}
	if m.Info == nil {
		return r
	}
	info, err := message.UnmarshalInfo(m.Info)
	if err != nil || info == nil {
		return r
	}
	// RFC 5256 §2.2: the sent date is the Date: header, or INTERNALDATE
	// when it is missing or cannot be parsed.
	if !info.SentDate.IsZero() {
		r.date = info.SentDate
	}
	env := &info.Envelope
	r.subject = strings.ToLower(baseSubject(info.Subject))
	r.from = strings.ToLower(addrMailbox(env.From))
	r.to = strings.ToLower(addrMailbox(env.To))
	r.cc = strings.ToLower(addrMailbox(env.Cc))
	r.dfrom = strings.ToLower(displayAddr(env.From))
	r.dto = strings.ToLower(displayAddr(env.To))
	return r
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
// FROM, TO and CC sort value of RFC 5256 §3; "" without an address.
func addrMailbox(list []message.Address) string {
	if a := firstAddr(list); a != nil {
		return a.Mailbox
	}
	return ""
}

// displayAddr is the DISPLAYFROM/DISPLAYTO sort value of RFC 5957 §3: the
// decoded display name of the first address, or its addr-spec when it
// has none.
func displayAddr(list []message.Address) string {
	a := firstAddr(list)
	if a == nil {
		return ""
	}
	if name := strings.TrimSpace(message.DecodeHeader(a.Name)); name != "" {
		return name
	}
	return a.Mailbox + "@" + a.Host
}

// sortRecs orders recs by keys; messages equal on every key stay in
// sequence order (RFC 5256 §3), whatever REVERSE says.
func sortRecs(recs []*sortRec, keys []wire.SortKey) {
	slices.SortFunc(recs, func(x, y *sortRec) int {
		for _, k := range keys {
			c := compareKey(k.Key, x, y)
			if k.Reverse {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(x.seq, y.seq)
	})
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
