package postgres

import (
	"fmt"
	"sort"
	"strings"

	"github.com/youju/youju/internal/store"
)

// args accumulates query arguments and hands out their placeholders.
type args []any

// add appends v and returns its placeholder ($n).
func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// maxSQLRanges is how many UID ranges become SQL terms; beyond, the query
// is bounded by the lowest and highest UID and the rest is filtered in Go.
const maxSQLRanges = 16

// uidClause returns an SQL condition on m.uid for the set (nil: all) and
// whether the set must still be checked in Go.
func uidClause(set store.UIDSet, a *args) (string, bool) {
	if set == nil {
		return "", false
	}
	if len(set) == 0 {
		return " AND false", false
	}
	if len(set) > maxSQLRanges {
		return " AND m.uid BETWEEN " + a.add(int64(set[0].Lo)) + " AND " + a.add(int64(set[len(set)-1].Hi)), true
	}
	var b strings.Builder
	b.WriteString(" AND (")
	for i, r := range set {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("m.uid BETWEEN " + a.add(int64(r.Lo)) + " AND " + a.add(int64(r.Hi)))
	}
	b.WriteString(")")
	return b.String(), false
}

// setContains is UIDSet.Contains by binary search (the set is ascending).
func setContains(s store.UIDSet, u store.UID) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].Hi >= u })
	return i < len(s) && s[i].Lo <= u
}

// setSize is the number of UIDs a set names.
func setSize(set store.UIDSet) uint64 {
	var n uint64
	for _, r := range set {
		if r.Hi >= r.Lo {
			n += uint64(r.Hi-r.Lo) + 1
		}
	}
	return n
}
