package server

import (
	"sort"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// uidRun is a run of consecutive UIDs present in the session's view of the
// mailbox; before is the number of messages in earlier runs, so that the
// sequence number of lo is before+1.
type uidRun struct {
	lo, hi store.UID
	before uint32
}

// uidMap maps message sequence numbers to UIDs (RFC 9051 §2.3.1.2) as runs
// of consecutive UIDs: a mailbox whose UIDs have few gaps costs a few runs,
// whatever its size, instead of one entry per message.
type uidMap struct {
	runs []uidRun
	n    uint32
}

// newUIDMap builds the map from ascending UIDs.
func newUIDMap(uids []store.UID) *uidMap {
	m := &uidMap{}
	for _, u := range uids {
		m.append(u)
	}
	return m
}

// newUIDMapFromSet builds the map from a store's UID runs (ascending,
// disjoint): one run per range, whatever the number of messages.
func newUIDMapFromSet(set store.UIDSet) *uidMap {
	m := &uidMap{runs: make([]uidRun, 0, len(set))}
	for _, r := range set {
		if r.Lo > r.Hi {
			continue
		}
		if k := len(m.runs); k > 0 && m.runs[k-1].hi+1 == r.Lo {
			m.runs[k-1].hi = r.Hi // adjacent ranges: one run
		} else {
			m.runs = append(m.runs, uidRun{lo: r.Lo, hi: r.Hi, before: m.n})
		}
		m.n += uint32(r.Hi-r.Lo) + 1
	}
	return m
}

// append adds uid, greater than every UID in the map (a new message).
func (m *uidMap) append(uid store.UID) {
	if k := len(m.runs); k > 0 && m.runs[k-1].hi+1 == uid {
		m.runs[k-1].hi = uid
	} else {
		m.runs = append(m.runs, uidRun{lo: uid, hi: uid, before: m.n})
	}
	m.n++
}

func (m *uidMap) len() uint32 { return m.n }

// maxUID is the largest UID, 0 when empty.
func (m *uidMap) maxUID() store.UID {
	if len(m.runs) == 0 {
		return 0
	}
	return m.runs[len(m.runs)-1].hi
}

// runOf returns the index of the run that holds or would precede uid.
func (m *uidMap) runOf(uid store.UID) int {
	return sort.Search(len(m.runs), func(i int) bool { return m.runs[i].hi >= uid })
}

// seqOf returns the sequence number of uid.
func (m *uidMap) seqOf(uid store.UID) (uint32, bool) {
	i := m.runOf(uid)
	if i == len(m.runs) || uid < m.runs[i].lo {
		return 0, false
	}
	r := m.runs[i]
	return r.before + uint32(uid-r.lo) + 1, true
}

// uidAt returns the UID of sequence number seq (1-based, <= len).
func (m *uidMap) uidAt(seq uint32) store.UID {
	i := sort.Search(len(m.runs), func(i int) bool { return m.runs[i].before >= seq }) - 1
	r := m.runs[i]
	return r.lo + store.UID(seq-1-r.before)
}

// remove deletes uid and returns the sequence number it had.
func (m *uidMap) remove(uid store.UID) (uint32, bool) {
	seq, ok := m.seqOf(uid)
	if !ok {
		return 0, false
	}
	i := m.runOf(uid)
	r := &m.runs[i]
	switch {
	case r.lo == r.hi:
		m.runs = append(m.runs[:i], m.runs[i+1:]...)
		i--
	case uid == r.lo:
		r.lo++
	case uid == r.hi:
		r.hi--
	default:
		tail := uidRun{lo: uid + 1, hi: r.hi, before: r.before + uint32(uid-r.lo)}
		r.hi = uid - 1
		m.runs = append(m.runs, uidRun{})
		copy(m.runs[i+2:], m.runs[i+1:])
		m.runs[i+1] = tail
		i++
	}
	for j := i + 1; j < len(m.runs); j++ {
		m.runs[j].before--
	}
	m.n--
	return seq, true
}

// seqsToUIDs converts a sequence set to the UIDs it names.
func (m *uidMap) seqsToUIDs(set wire.SeqSet) store.UIDSet {
	var out store.UIDSet
	for _, sr := range set.Resolve(m.n, true) {
		lo, hi := m.uidAt(sr.Lo), m.uidAt(sr.Hi)
		for i := m.runOf(lo); i < len(m.runs) && m.runs[i].lo <= hi; i++ {
			out = out.AppendRange(max(lo, m.runs[i].lo), min(hi, m.runs[i].hi))
		}
	}
	return out
}

// uidsToSet converts a UID set of the client to a store set; "*" is the
// largest UID of the session's view (RFC 9051 §6.4.9).
func (m *uidMap) uidsToSet(set wire.SeqSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range set.Resolve(uint32(m.maxUID()), false) {
		out = out.AppendRange(store.UID(r.Lo), store.UID(r.Hi))
	}
	return out
}

// present returns the UIDs of set that are in the map.
func (m *uidMap) present(set store.UIDSet) []store.UID {
	var out []store.UID
	for _, r := range set {
		for i := m.runOf(r.Lo); i < len(m.runs) && m.runs[i].lo <= r.Hi; i++ {
			for u := max(r.Lo, m.runs[i].lo); u <= min(r.Hi, m.runs[i].hi); u++ {
				out = append(out, u)
				if u == ^store.UID(0) {
					break
				}
			}
		}
	}
	return out
}

// count returns how many UIDs of set are in the map, without listing them.
func (m *uidMap) count(set store.UIDSet) uint64 {
	var n uint64
	for _, r := range set {
		for i := m.runOf(r.Lo); i < len(m.runs) && m.runs[i].lo <= r.Hi; i++ {
			lo, hi := max(r.Lo, m.runs[i].lo), min(r.Hi, m.runs[i].hi)
			if lo <= hi {
				n += uint64(hi-lo) + 1
			}
		}
	}
	return n
}
