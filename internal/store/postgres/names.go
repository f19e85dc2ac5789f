package postgres

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/youju/youju/internal/store"
)

// The rules of names, keywords and flag operations are the SQLite
// backend's (internal/store/sqlite), repeated here so that both packages
// stay independent while the store seams are being cut; they belong in
// internal/store once the sqlite package may be touched again.

// normName checks a mailbox name and returns its canonical form: INBOX
// (as first component) in upper case, as RFC 9051 §5.1 makes it
// case-insensitive; every other name is case-sensitive.
func normName(name string) (string, error) {
	if name == "" || !utf8.ValidString(name) || len(name) > 1000 {
		return "", store.ErrInvalidName
	}
	for _, r := range name {
		// Control characters and the LIST wildcards (RFC 9051 §6.3.9).
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", store.ErrInvalidName
		}
	}
	parts := strings.Split(name, string(store.Delimiter))
	for _, p := range parts {
		if p == "" {
			return "", store.ErrInvalidName
		}
	}
	if strings.EqualFold(parts[0], store.InboxName) {
		parts[0] = store.InboxName
	}
	return strings.Join(parts, string(store.Delimiter)), nil
}

// parents returns the ancestors of a name, outermost first.
func parents(name string) []string {
	var ps []string
	for i := 0; i < len(name); i++ {
		if name[i] == store.Delimiter {
			ps = append(ps, name[:i])
		}
	}
	return ps
}

func validSpecialUse(s string) bool {
	switch s {
	case "", store.SpecialDrafts, store.SpecialSent, store.SpecialTrash, store.SpecialJunk, store.SpecialArchive:
		return true
	}
	return false
}

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
