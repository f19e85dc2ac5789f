package store

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// The rules every backend applies to names, keywords and flag operations,
// in one place so that the SQLite and PostgreSQL stores cannot drift.

// NormMailboxName checks a mailbox name and returns its canonical form: INBOX
// (as first component) in upper case, as RFC 9051 §5.1 makes it
// case-insensitive; every other name is case-sensitive.
func NormMailboxName(name string) (string, error) {
	if name == "" || !utf8.ValidString(name) || len(name) > 1000 {
		return "", ErrInvalidName
	}
	for _, r := range name {
		// Control characters and the LIST wildcards (RFC 9051 §6.3.9)
		// are not allowed in names.
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", ErrInvalidName
		}
	}
	parts := strings.Split(name, string(Delimiter))
	for _, p := range parts {
		if p == "" {
			return "", ErrInvalidName
		}
	}
	if strings.EqualFold(parts[0], InboxName) {
		parts[0] = InboxName
	}
	return strings.Join(parts, string(Delimiter)), nil
}

// MailboxParents returns the ancestors of a name, outermost first.
func MailboxParents(name string) []string {
	var ps []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter {
			ps = append(ps, name[:i])
		}
	}
	return ps
}

func ValidSpecialUse(s string) bool {
	switch s {
	case "", SpecialDrafts, SpecialSent, SpecialTrash, SpecialJunk, SpecialArchive:
		return true
	}
	return false
}

// AllSystemFlags are the system flags the store keeps.
const AllSystemFlags = FlagSeen | FlagAnswered | FlagFlagged | FlagDeleted | FlagDraft

// ValidKeyword reports whether k can be stored: an IMAP atom that is not a
// system flag (RFC 9051 §9, flag-keyword).
func ValidKeyword(k string) bool {
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

// NormKeywords returns the keywords sorted case-insensitively without
// duplicates (the first spelling wins), dropping invalid ones. ok is false
// if any was invalid.
func NormKeywords(kws []string) (out []string, ok bool) {
	ok = true
	seen := make(map[string]bool, len(kws))
	for _, k := range kws {
		if !ValidKeyword(k) {
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

// JoinKeywords is the stored form: space-separated (keywords are atoms).
func JoinKeywords(kws []string) string { return strings.Join(kws, " ") }

func SplitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// HasKeyword reports whether kws holds k, case-insensitively.
func HasKeyword(kws []string, k string) bool {
	for _, x := range kws {
		if strings.EqualFold(x, k) {
			return true
		}
	}
	return false
}

// ApplyFlags computes the flags after a STORE (RFC 9051 §6.4.6).
func ApplyFlags(cur Flags, op FlagOp, f Flags) Flags {
	switch op {
	case FlagReplace:
		return Flags{System: f.System & AllSystemFlags, Keywords: f.Keywords}
	case FlagAdd:
		out := Flags{System: (cur.System | f.System) & AllSystemFlags, Keywords: cur.Keywords}
		for _, k := range f.Keywords {
			if !HasKeyword(out.Keywords, k) {
				out.Keywords = append(out.Keywords[:len(out.Keywords):len(out.Keywords)], k)
			}
		}
		out.Keywords, _ = NormKeywords(out.Keywords)
		return out
	case FlagRemove:
		out := Flags{System: cur.System &^ f.System}
		for _, k := range cur.Keywords {
			if !HasKeyword(f.Keywords, k) {
				out.Keywords = append(out.Keywords, k)
			}
		}
		return out
	}
	return cur
}

func SameFlags(a, b Flags) bool {
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

// FlagsFromNames turns IMAP flag names (RFC 9051 §2.3.2), as Sieve's
// imap4flags, an import source or a client gives them, into Flags:
// system flags case-insensitively, valid keywords as given; other
// backslash names (\Recent, \*) and invalid atoms are dropped.
func FlagsFromNames(names []string) Flags {
	var f Flags
	for _, s := range names {
		switch strings.ToLower(s) {
		case `\seen`:
			f.System |= FlagSeen
		case `\answered`:
			f.System |= FlagAnswered
		case `\flagged`:
			f.System |= FlagFlagged
		case `\deleted`:
			f.System |= FlagDeleted
		case `\draft`:
			f.System |= FlagDraft
		default:
			if ValidKeyword(s) {
				f.Keywords = append(f.Keywords, s)
			}
		}
	}
	return f
}
