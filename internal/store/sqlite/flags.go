package sqlite

import (
	"sort"
	"strings"

	"github.com/youju/youju/internal/store"
)

// allSysFlags are the system flags the store keeps.
const allSysFlags = store.FlagSeen | store.FlagAnswered | store.FlagFlagged | store.FlagDeleted | store.FlagDraft

// validKeyword reports whether k can be stored: an IMAP atom that is not a
// system flag (RFC 9051 §9, flag-keyword).
func validKeyword(k string) bool {
	if k == "" || len(k) > 200 || k[0] == '\\' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// normKeywords returns the keywords sorted case-insensitively without
// duplicates (the first spelling wins), dropping invalid ones. ok is false
// if any was invalid.
func normKeywords(kws []string) (out []string, ok bool) {
	ok = true
	seen := make(map[string]bool, len(kws))
	for _, k := range kws {
		if !validKeyword(k) {
			ok = false
			continue
		}
		l := strings.ToLower(k)
		if seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, k)
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out, ok
}

// joinKeywords is the stored form: space-separated (keywords are atoms).
func joinKeywords(kws []string) string { return strings.Join(kws, " ") }

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// hasKeyword reports whether kws holds k, case-insensitively.
func hasKeyword(kws []string, k string) bool {
	for _, x := range kws {
		if strings.EqualFold(x, k) {
			return true
		}
	}
	return false
}

// applyFlags computes the flags after a STORE (RFC 9051 §6.4.6).
func applyFlags(cur store.Flags, op store.FlagOp, f store.Flags) store.Flags {
	switch op {
	case store.FlagReplace:
		return store.Flags{System: f.System & allSysFlags, Keywords: f.Keywords}
	case store.FlagAdd:
		out := store.Flags{System: (cur.System | f.System) & allSysFlags, Keywords: cur.Keywords}
		for _, k := range f.Keywords {
			if !hasKeyword(out.Keywords, k) {
				out.Keywords = append(out.Keywords[:len(out.Keywords):len(out.Keywords)], k)
			}
		}
		out.Keywords, _ = normKeywords(out.Keywords)
		return out
	case store.FlagRemove:
		out := store.Flags{System: cur.System &^ f.System}
		for _, k := range cur.Keywords {
			if !hasKeyword(f.Keywords, k) {
				out.Keywords = append(out.Keywords, k)
			}
		}
		return out
	}
	return cur
}

func sameFlags(a, b store.Flags) bool {
	if a.System != b.System || len(a.Keywords) != len(b.Keywords) {
		return false
	}
	for i := range a.Keywords {
		if a.Keywords[i] != b.Keywords[i] {
			return false
		}
	}
	return true
}

// maxSQLRanges is how many UID ranges become SQL terms; beyond, the query
// is bounded by the lowest and highest UID and the rest is filtered in Go.
const maxSQLRanges = 16

// uidClause returns an SQL condition on column uid for the set (nil: all)
// and whether the set must still be checked in Go.
func uidClause(set store.UIDSet) (string, []any, bool) {
	if set == nil {
		return "", nil, false
	}
	if len(set) == 0 {
		return " AND 0", nil, false
	}
	if len(set) > maxSQLRanges {
		return " AND m.uid BETWEEN ? AND ?", []any{set[0].Lo, set[len(set)-1].Hi}, true
	}
	var b strings.Builder
	args := make([]any, 0, 2*len(set))
	b.WriteString(" AND (")
	for i, r := range set {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("m.uid BETWEEN ? AND ?")
		args = append(args, r.Lo, r.Hi)
	}
	b.WriteString(")")
	return b.String(), args, false
}

// setContains is UIDSet.Contains by binary search (the set is ascending).
func setContains(s store.UIDSet, u store.UID) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].Hi >= u })
	return i < len(s) && s[i].Lo <= u
}
