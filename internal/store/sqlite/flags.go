package sqlite

import (
	"sort"
	"strings"

	"github.com/youju/youju/internal/store"
)

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
