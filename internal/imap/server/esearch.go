package server

import (
	"slices"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// returnOpts are the RETURN options of an extended SEARCH (RFC 4731 §3.1,
// RFC 9051 §6.4.4) or SORT (ESORT, RFC 5267 §3), with the CONTEXT, UPDATE
// and PARTIAL options of RFC 5267 §4.
type returnOpts struct {
	opts    []string
	partial *wire.PartialRange
}

func (r returnOpts) has(name string) bool { return slices.Contains(r.opts, name) }

// onlySave reports whether SAVE is all that was asked: RFC 5182 §2.1 then
// wants no ESEARCH response at all.
func (r returnOpts) onlySave() bool {
	return len(r.opts) > 0 && !slices.ContainsFunc(r.opts, func(o string) bool { return o != "SAVE" })
}

// data lists the options that produce return data, in the client's order;
// "RETURN ()" and no RETURN at all mean ALL (RFC 4731 §3.1).
func (r returnOpts) data() []string {
	if len(r.opts) == 0 {
		return []string{"ALL"}
	}
	return slices.DeleteFunc(slices.Clone(r.opts), func(o string) bool {
		return o == "SAVE" || o == "UPDATE" || o == "CONTEXT"
	})
}

// returned tells which of n results the response is about: all of them, or
// those at the indexes idx. ALL and COUNT concern every result; otherwise
// MIN, MAX and the PARTIAL window each name theirs. It decides both the
// MODSEQ of the response and what SAVE keeps:
//   - RFC 4731 §3.2: with MIN or MAX alone, MODSEQ is the mod-sequence of
//     that message; with both, the highest of the two; with ALL or COUNT,
//     the highest of all the messages found.
//   - RFC 5182 §2.4: SAVE with MIN and/or MAX saves those messages only,
//     and RFC 9394 §3.2 SAVE with PARTIAL the window.
func (r returnOpts) returned(n int) (all bool, idx []int) {
	if n == 0 {
		return false, nil
	}
	data := r.data()
	if len(data) == 0 || slices.Contains(data, "ALL") || slices.Contains(data, "COUNT") {
		return true, nil
	}
	for _, o := range data {
		switch o {
		case "MIN":
			idx = append(idx, 0)
		case "MAX":
			idx = append(idx, n-1)
		case "PARTIAL":
			lo, hi := r.partial.Window(n)
			for i := lo; i < hi; i++ {
				idx = append(idx, i)
			}
		}
	}
	return false, idx
}

// maxModSeq is the highest of modseqs at the returned indexes; 0 when
// there are no mod-sequences (no MODSEQ key) or nothing is returned.
func (r returnOpts) maxModSeq(modseqs []store.ModSeq) store.ModSeq {
	var ms store.ModSeq
	if len(modseqs) == 0 {
		return 0
	}
	all, idx := r.returned(len(modseqs))
	if all {
		return slices.Max(modseqs)
	}
	for _, i := range idx {
		ms = max(ms, modseqs[i])
	}
	return ms
}

// savedSet is what SAVE keeps of the results (RFC 5182 §2.4), as UIDs.
func (r returnOpts) savedSet(uids []store.UID) store.UIDSet {
	all, idx := r.returned(len(uids))
	keep := uids
	if !all {
		keep = make([]store.UID, len(idx))
		for i, j := range idx {
			keep[i] = uids[j]
		}
	}
	if !slices.IsSorted(keep) { // SORT results are in sort order
		keep = slices.Clone(keep)
		slices.Sort(keep)
	}
	return store.UIDSetOf(keep)
}

// number is how a message is named in a response: its UID for UID
// commands, else its sequence number in the session's view.
func (c *conn) number(uid bool, u store.UID) store.UID {
	if uid {
		return u
	}
	seq, _ := c.sel.uids.seqOf(u)
	return store.UID(seq)
}

// numberList formats uids as a sequence-set in their order. Only
// ascending runs become ranges, so the order of a SORT survives (RFC 5267
// §3.2: a range expands in increasing order; "12:10" is to be avoided).
func (c *conn) numberList(uid bool, uids []store.UID) string {
	nums := make([]store.UID, len(uids))
	for i, u := range uids {
		nums[i] = c.number(uid, u)
	}
	return store.UIDSetOf(nums).SequenceSet()
}

// writeESearch writes the ESEARCH response of an extended SEARCH or SORT
// (RFC 4731 §3.1, RFC 5267 §3.1 and §4.4): res are the UIDs found in
// response order (mailbox order for SEARCH, sort order for SORT, so MIN
// and MAX are the first and last), modseqs their mod-sequences when the
// program had a MODSEQ key (RFC 4731 §3.2).
func (c *conn) writeESearch(tag string, uid bool, r returnOpts, res []store.UID, modseqs []store.ModSeq) {
	if r.onlySave() {
		return
	}
	w := c.w
	w.Raw("* ESEARCH (TAG ").String(tag).Raw(")")
	if uid {
		w.Raw(" UID")
	}
	n := len(res)
	for _, o := range r.data() {
		switch {
		case o == "COUNT":
			w.Raw(" COUNT ").Number(uint64(n))
		case o == "PARTIAL":
			// RFC 5267 §4.4, RFC 9394 §3.1: the range as sent, then the
			// results in it or NIL.
			w.Raw(" PARTIAL (").Raw(r.partial.String()).SP()
			if lo, hi := r.partial.Window(n); lo < hi {
				w.Raw(c.numberList(uid, res[lo:hi]))
			} else {
				w.Raw("NIL")
			}
			w.Byte(')')
		case n == 0: // RFC 4731 §3.1: no MIN, MAX or ALL when nothing matched
		case o == "MIN":
			w.Raw(" MIN ").Number(uint64(c.number(uid, res[0])))
		case o == "MAX":
			w.Raw(" MAX ").Number(uint64(c.number(uid, res[n-1])))
		case o == "ALL":
			w.Raw(" ALL ").Raw(c.numberList(uid, res))
		}
	}
	if ms := r.maxModSeq(modseqs); ms > 0 {
		w.Raw(" MODSEQ ").Number(uint64(ms)) // RFC 4731 §3.2
	}
	w.CRLF()
}

// matchProgram evaluates a search program (Key "AND", strings already in
// UTF-8) over the session's view of the mailbox, or over the UIDs of
// within when it is not nil, and returns the UIDs found, ascending. Keys
// the index can answer go into the store query; the rest is evaluated
// per message on the stored parse. visit, when not nil, sees each message
// found with its sequence number, and its stored parse when needInfo: it
// is how SORT gathers sort keys and how a MODSEQ search learns
// mod-sequences.
func (c *conn) matchProgram(key *wire.SearchKey, within store.UIDSet, needInfo bool, visit func(m *store.Message, seq uint32)) ([]store.UID, error) {
	sel := c.sel
	if sel.uids.len() == 0 {
		return nil, nil
	}
	q := store.Query{UIDs: within}
	var rest []wire.SearchKey
	for _, k := range key.Sub {
		if !c.indexKey(&q, k) {
			rest = append(rest, k)
		}
	}
	and := wire.SearchKey{Key: "AND", Sub: rest}
	// The text index narrows the messages to read (textsearch.go).
	cand, ok, sure, err := c.textCandidates(&and)
	if err != nil {
		return nil, err
	}
	if ok {
		if q.UIDs != nil {
			cand = intersectSets(q.UIDs, cand)
		}
		if len(cand) == 0 {
			return nil, nil // no message can match
		}
		q.UIDs = cand
	}
	if q.UIDs == nil {
		q.UIDs = store.UIDSet{{Lo: 1, Hi: sel.uids.maxUID()}}
	}
	var proven []store.UID
	if visit == nil {
		// The messages the index proves to match one key need not be
		// read for it: they are searched for the other keys alone.
		for i := range and.Sub {
			s := intersectSets(sure[&and.Sub[i]], q.UIDs)
			if len(s) == 0 {
				continue
			}
			others := wire.SearchKey{Key: "AND", Sub: append(slices.Clone(and.Sub[:i]), and.Sub[i+1:]...)}
			qs := q
			qs.UIDs = s
			if proven, err = c.searchRest(qs, &others, sure, needInfo, nil); err != nil {
				return nil, err
			}
			if q.UIDs = differenceSets(q.UIDs, s); len(q.UIDs) == 0 {
				return c.inView(proven), nil
			}
			break
		}
	}
	uids, err := c.searchRest(q, &and, sure, needInfo, visit)
	if err != nil {
		return nil, err
	}
	if proven != nil {
		uids = mergeSorted(uids, proven)
	}
	return c.inView(uids), nil
}

// mergeSorted merges two ascending, disjoint lists.
func mergeSorted(a, b []store.UID) []store.UID {
	out := make([]store.UID, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out, i = append(out, a[i]), i+1
		} else {
			out, j = append(out, b[j]), j+1
		}
	}
	return append(append(out, a[i:]...), b[j:]...)
}

// searchRest runs the store search q with the keys of and (those the index
// could not take) evaluated per message.
func (c *conn) searchRest(q store.Query, and *wire.SearchKey, sure map[*wire.SearchKey]store.UIDSet, needInfo bool, visit func(m *store.Message, seq uint32)) ([]store.UID, error) {
	sel := c.sel
	if len(and.Sub) > 0 || visit != nil {
		ev := &evaluator{c: c, now: time.Now(), sure: sure}
		q.NeedInfo = needInfo || needsInfo(and)
		q.Match = func(m *store.Message) (bool, error) {
			if len(and.Sub) > 0 {
				if ok, err := ev.match(and, m); !ok || err != nil {
					return ok, err
				}
			}
			seq, known := sel.uids.seqOf(m.UID)
			if !known {
				return false, nil
			}
			if visit != nil {
				visit(m, seq)
			}
			return true, nil
		}
	}
	return c.srv.Store.Search(c.ctx, c.acct.ID, sel.mbox.ID, q)
}

// inView keeps the UIDs of the session's view: messages delivered since
// the session last looked are not in it yet.
func (c *conn) inView(uids []store.UID) []store.UID {
	out := uids[:0]
	for _, u := range uids {
		if _, ok := c.sel.uids.seqOf(u); ok {
			out = append(out, u)
		}
	}
	return out
}
