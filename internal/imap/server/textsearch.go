package server

import (
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
func (c *conn) textCandidates(k *wire.SearchKey) (store.UIDSet, bool, error) {
	ti, ok := c.srv.Store.(store.TextIndex)
	if !ok {
		return nil, false, nil
	}
	n := 0
	return c.narrow(ti, k, &n)
}

// narrow returns the candidates of k: an AND is the intersection of what
// its keys narrow, an OR the union when both sides narrow; a NOT, or any
// other key, narrows nothing.
func (c *conn) narrow(ti store.TextIndex, k *wire.SearchKey, n *int) (store.UIDSet, bool, error) {
	switch k.Key {
	case "AND":
		var acc store.UIDSet
		some := false
		for i := range k.Sub {
			set, ok, err := c.narrow(ti, &k.Sub[i], n)
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
		a, ok, err := c.narrow(ti, &k.Sub[0], n)
		if !ok || err != nil {
			return nil, false, err
		}
		b, ok, err := c.narrow(ti, &k.Sub[1], n)
		if !ok || err != nil {
			return nil, false, err
		}
		return unionSets(a, b), true, nil
	case "TEXT":
		// A header line or the body (RFC 9051 §6.4.4).
		h, ok, err := c.lookup(ti, store.TextHeader, k.Value, n)
		if !ok || err != nil {
			return nil, false, err
		}
		b, ok, err := c.lookup(ti, store.TextBody, k.Value, n)
		if !ok || err != nil {
			return nil, false, err
		}
		return unionSets(h, b), true, nil
	}
	f, ok := textFields[k.Key]
	if !ok {
		return nil, false, nil
	}
	return c.lookup(ti, f, k.Value, n)
}

func (c *conn) lookup(ti store.TextIndex, f store.TextField, value string, n *int) (store.UIDSet, bool, error) {
	if *n >= maxTextLookups {
		return nil, false, nil
	}
	*n++
	uids, ok, err := ti.TextCandidates(c.ctx, c.acct.ID, c.sel.mbox.ID, f, value)
	if !ok || err != nil {
		return nil, false, err
	}
	return uidRuns(uids), true, nil
}

// uidRuns turns ascending UIDs into a set of runs.
func uidRuns(uids []store.UID) store.UIDSet {
	set := store.UIDSet{}
	for _, u := range uids {
		if l := len(set); l > 0 && set[l-1].Hi+1 == u {
			set[l-1].Hi = u
			continue
		}
		set = append(set, store.UIDRange{Lo: u, Hi: u})
	}
	return set
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
