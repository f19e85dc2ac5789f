package sqlite

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/youju/youju/internal/store"
)

// FuzzNormName checks the mailbox name rules: no panic, the canonical
// form is stable and valid, INBOX is always spelled INBOX.
func FuzzNormName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/Sub", "a/b/c", "", "/", "a//b", "Ünïcode/名字", "x*", "iNbOx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := store.NormMailboxName(name)
		if err != nil {
			return
		}
		if again, err := store.NormMailboxName(n); err != nil || again != n {
			t.Fatalf("%q -> %q -> %q, %v", name, n, again, err)
		}
		if !utf8.ValidString(n) || strings.HasPrefix(n, "/") || strings.HasSuffix(n, "/") || strings.Contains(n, "//") {
			t.Fatalf("%q -> invalid %q", name, n)
		}
		first, _, _ := strings.Cut(n, string(store.Delimiter))
		if strings.EqualFold(first, store.InboxName) && first != store.InboxName {
			t.Fatalf("%q -> %q: INBOX not canonical", name, n)
		}
	})
}

// FuzzKeywords checks that stored keywords are valid atoms, sorted and
// unique ignoring case, whatever a client sends.
func FuzzKeywords(f *testing.F) {
	f.Add("$Label1 work Work \\Seen")
	f.Add("a(b c] d")
	f.Fuzz(func(t *testing.T, s string) {
		kws, _ := store.NormKeywords(strings.Fields(s))
		for i, k := range kws {
			if !store.ValidKeyword(k) || strings.ContainsAny(k, " \t\r\n") {
				t.Fatalf("invalid keyword %q kept", k)
			}
			if i > 0 && strings.ToLower(kws[i-1]) >= strings.ToLower(k) {
				t.Fatalf("not sorted/unique: %q", kws)
			}
		}
		if got := store.SplitKeywords(store.JoinKeywords(kws)); len(got) != len(kws) {
			t.Fatalf("round trip %q -> %q", kws, got)
		}
	})
}
