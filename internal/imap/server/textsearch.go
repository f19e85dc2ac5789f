package server

import (
	"sort"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// maxTextLookups bounds the index lookups of one program (a client's
// program is bounded by the command's size; this bounds the work).
const maxTextLookups = 16

// textFields maps the text keys of RFC 9051 §6.4.4 to the fields of a
// store.TextIndex. HEADER of any field is looked up among every header
// line; TEXT is its header lines or its body.
var textFields = map[string]store.TextField{
	"SUBJECT": store.TextSubject,
	"FROM":    store.TextFrom,
	"TO":      store.TextTo,
	"CC":      store.TextCc,
	"BCC":     store.TextBcc,
	"HEADER":  store.TextHeader,
	"BODY":    store.TextBody,
}

// textCandidates narrows the messages a program can match with the
// store's text index: the UIDs that may match, and false when it cannot
// narrow (no index, no indexable key, a key under NOT). The evaluator then
// checks each candidate as it would in a scan, so the result is the same.
// sure gives, for keys of the program the index answered, the UIDs it
// proves to match (store.TextMatches.Sure): the evaluator takes those as
// matching without reading the message.
func (c *conn) textCandidates(k *wire.SearchKey) (cand store.UIDSet, ok bool, sure map[*wire.SearchKey]store.UIDSet, err error) {
	ti, ok := c.srv.Store.(store.TextIndex)
	if !ok {
		return nil, false, nil, nil
	}
	t := textLookup{ti: ti, sure: map[*wire.SearchKey]store.UIDSet{}}
	cand, ok, err = c.narrow(&t, k)
	return cand, ok, t.sure, err
}

// textLookup is the state of one program's lookups.
type textLookup struct {
	ti   store.TextIndex
	n    int // lookups so far
	sure map[*wire.SearchKey]store.UIDSet
}

// narrow returns the candidates of k: an AND is the intersection of what
// its keys narrow, an OR the union when both sides narrow; a NOT, or any
// other key, narrows nothing.
func (c *conn) narrow(t *textLookup, k *wire.SearchKey) (store.UIDSet, bool, error) {
	switch k.Key {
	case "AND":
		var acc store.UIDSet
		some := false
		for i := range k.Sub {
			set, ok, err := c.narrow(t, &k.Sub[i])
			if err != nil {
				return nil, false, err
			}
			if !ok {
				continue
			}
			if some {
				acc = intersectSets(acc, set)
			} else {
				acc, some = set, true
			}
		}
		return acc, some, nil
	case "OR":
		a, ok, err := c.narrow(t, &k.Sub[0])
		if !ok || err != nil {
			return nil, false, err
		}
		b, ok, err := c.narrow(t, &k.Sub[1])
		if !ok || err != nil {
			return nil, false, err
		}
		return unionSets(a, b), true, nil
	case "TEXT":
		// A header line or the body (RFC 9051 §6.4.4). The header
		// field is every header line's value, as TEXT matches, so a
		// proof holds (HEADER with a name is narrower than the field).
		h, ok, err := c.lookup(t, store.TextHeader, k.Value)
		if !ok || err != nil {
			return nil, false, err
		}
		b, ok, err := c.lookup(t, store.TextBody, k.Value)
		if !ok || err != nil {
			return nil, false, err
		}
		t.sure[k] = unionSets(h.Sure, b.Sure)
		return unionSets(h.Candidates, b.Candidates), true, nil
	}
	f, ok := textFields[k.Key]
	if !ok {
		return nil, false, nil
	}
	m, ok, err := c.lookup(t, f, k.Value)
	if !ok || err != nil {
		return nil, false, err
	}
	if f != store.TextHeader {
		t.sure[k] = m.Sure
	}
	return m.Candidates, true, nil
}

func (c *conn) lookup(t *textLookup, f store.TextField, value string) (store.TextMatches, bool, error) {
	if t.n >= maxTextLookups {
		return store.TextMatches{}, false, nil
	}
	t.n++
	return t.ti.TextCandidates(c.ctx, c.acct.ID, c.sel.mbox.ID, f, value)
}

// inSet reports whether u is in the ascending set (binary search: a set of
// index hits can have thousands of runs).
func inSet(set store.UIDSet, u store.UID) bool {
	i := sort.Search(len(set), func(i int) bool { return set[i].Hi >= u })
	return i < len(set) && set[i].Lo <= u
}

// differenceSets returns the runs of a that are not in b (both ascending,
// disjoint).
func differenceSets(a, b store.UIDSet) store.UIDSet {
	out := store.UIDSet{}
	j := 0
	for _, r := range a {
		lo := r.Lo
		for j < len(b) && b[j].Hi < lo {
			j++
		}
		for k := j; k < len(b) && b[k].Lo <= r.Hi; k++ {
			if b[k].Lo > lo {
				out = append(out, store.UIDRange{Lo: lo, Hi: b[k].Lo - 1})
			}
			if b[k].Hi >= r.Hi {
				lo = r.Hi + 1
				break
			}
			lo = b[k].Hi + 1
		}
		if lo <= r.Hi && lo != 0 {
			out = append(out, store.UIDRange{Lo: lo, Hi: r.Hi})
		}
	}
	return out
}

// intersectSets intersects two ascending, disjoint sets of runs.
func intersectSets(a, b store.UIDSet) store.UIDSet {
	out := store.UIDSet{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].Lo, b[j].Lo), min(a[i].Hi, b[j].Hi)
		if lo <= hi {
			out = append(out, store.UIDRange{Lo: lo, Hi: hi})
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// unionSets unites two ascending, disjoint sets of runs.
func unionSets(a, b store.UIDSet) store.UIDSet {
	out := store.UIDSet{}
	add := func(r store.UIDRange) {
		if l := len(out); l > 0 && (out[l-1].Hi == ^store.UID(0) || r.Lo <= out[l-1].Hi+1) {
			out[l-1].Hi = max(out[l-1].Hi, r.Hi)
			return
		}
		out = append(out, r)
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && a[i].Lo <= b[j].Lo) {
			add(a[i])
			i++
		} else {
			add(b[j])
			j++
		}
	}
	return out
}
