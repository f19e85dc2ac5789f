package store

import (
	"sort"
	"time"
)

// Searching index rows held in memory: the backends' caches of a
// mailbox's rows (sqlite/cache.go, postgres/flagcache.go) answer SEARCH
// with the same filter, so that both agree with their SQL.

// RowFilter is the part of a Query that an index row decides: system
// flags, size (RFC 9051 §6.4.4 LARGER, SMALLER), internal and save dates,
// MODSEQ (RFC 7162 §3.1.5) and the UID set.
type RowFilter struct {
	q *Query
	// A row passes the flags when flags&mask == want.
	mask, want SysFlags
	// flagsOnly: nothing but the flags to test (SEARCH UNSEEN), so that
	// Match is inlined and a 100k cache is filtered as fast as by hand.
	flagsOnly                      bool
	since, before, ssince, sbefore int64 // Unix ns, 0 = none
}

// RowFilter returns the filter of q's row fields.
func (q *Query) RowFilter() RowFilter {
	set, unset := q.FlagsSet&AllSystemFlags, q.FlagsUnset&AllSystemFlags
	f := RowFilter{q: q, mask: set | unset, want: set}
	if set&unset != 0 {
		f.want = ^SysFlags(0) // a flag both set and unset: no row passes
	}
	f.since, f.before = unixNano(q.Since), unixNano(q.Before)
	f.ssince, f.sbefore = unixNano(q.SavedSince), unixNano(q.SavedBefore)
	f.flagsOnly = q.MinSize <= 0 && q.MaxSize <= 0 && f.since == 0 && f.before == 0 && f.ssince == 0 && f.sbefore == 0 &&
		q.MinModSeq == 0 && q.UIDs == nil
	return f
}

// unixNano is t in Unix ns, 0 for the zero time (no bound).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Match reports whether a row (dates in Unix ns) passes the filter.
func (f *RowFilter) Match(uid UID, flags SysFlags, modseq ModSeq, size, idate, sdate int64) bool {
	return flags&f.mask == f.want && (f.flagsOnly || f.matchFields(uid, modseq, size, idate, sdate))
}

// matchFields is Match beyond the flags.
func (f *RowFilter) matchFields(uid UID, modseq ModSeq, size, idate, sdate int64) bool {
	q := f.q
	return (q.MinSize <= 0 || size > q.MinSize) && (q.MaxSize <= 0 || size < q.MaxSize) &&
		(f.since == 0 || idate >= f.since) && (f.before == 0 || idate < f.before) &&
		(f.ssince == 0 || sdate >= f.ssince) && (f.sbefore == 0 || sdate < f.sbefore) &&
		(q.MinModSeq == 0 || modseq >= q.MinModSeq) &&
		(q.UIDs == nil || sortedContains(q.UIDs, uid))
}

// sortedContains is Contains of an ascending set, by binary search.
func sortedContains(s UIDSet, u UID) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].Hi >= u })
	return i < len(s) && s[i].Lo <= u
}

// RowOnly reports whether the row decides q: no keywords, no Match.
func (q *Query) RowOnly() bool {
	return q.Match == nil && len(q.Keywords) == 0 && len(q.NotKeywords) == 0
}

// MatchRest applies what the row filter does not: the keywords and
// q.Match.
func (q *Query) MatchRest(m *Message) (bool, error) {
	for _, k := range q.Keywords {
		if !HasKeyword(m.Flags.Keywords, k) {
			return false, nil
		}
	}
	for _, k := range q.NotKeywords {
		if HasKeyword(m.Flags.Keywords, k) {
			return false, nil
		}
	}
	if q.Match != nil {
		return q.Match(m)
	}
	return true, nil
}
