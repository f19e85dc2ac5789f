package textterms

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPrefixWordsMatchesScan: the sorted lookup of prefix pieces gives
// the words a scan of the whole buffer gives, while words keep coming
// (some sorted, some not yet), with keep and max applied the same way.
func TestPrefixWordsMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var v Vocab
	prefixes := []string{"4", "42", "4242", "a", "ab", "s12", "zz", "发", "message", "x"}
	for round := range 12 {
		var words []string
		for range 1 + r.IntN(3000) {
			switch r.IntN(4) {
			case 0:
				words = append(words, fmt.Sprint(r.IntN(100_000)))
			case 1:
				words = append(words, fmt.Sprintf("s%d@example.com", r.IntN(50_000)))
			case 2:
				words = append(words, string([]rune("发票报销合同")[r.IntN(6):])+fmt.Sprint(r.IntN(100)))
			default:
				b := make([]byte, 1+r.IntN(8))
				for i := range b {
					b[i] = "abmxz"[r.IntN(5)]
				}
				words = append(words, string(b))
			}
		}
		v.AddNew(words)
		for _, p := range prefixes {
			even := func(w string) bool { return len(w)%2 == 0 }
			for _, keep := range []func(string) bool{func(string) bool { return true }, even} {
				want, wantOK := v.Find("\x00"+p, keep, 1<<30)
				got, ok := v.prefixWords(p, keep, 1<<30)
				slices.Sort(want)
				slices.Sort(got)
				if !ok || !wantOK || !slices.Equal(got, want) {
					t.Fatalf("round %d, prefix %q: %d words, the scan finds %d", round, p, len(got), len(want))
				}
				for _, w := range got {
					if !strings.HasPrefix(w, p) {
						t.Fatalf("prefix %q: %q", p, w)
					}
				}
				if len(want) > 0 {
					if _, ok := v.prefixWords(p, keep, len(want)-1); ok {
						t.Fatalf("prefix %q: %d words, max %d not reported", p, len(want), len(want)-1)
					}
					if got, ok := v.prefixWords(p, keep, len(want)); !ok || len(got) != len(want) {
						t.Fatalf("prefix %q: exactly max words refused", p)
					}
				}
			}
		}
	}
	if len(v.sorted) == 0 {
		t.Fatal("no word was ever sorted: the sorted path is untested")
	}
}

// TestFindMatchesNaive: Find (anchored on the pattern's rarest byte)
// gives the words a plain substring test gives, for patterns anchored at
// a word's start or end or not at all.
func TestFindMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var v Vocab
	var all []string
	for range 5000 {
		b := make([]byte, 1+r.IntN(10))
		for i := range b {
			b[i] = "aabmgex0\xe5"[r.IntN(9)]
		}
		if v.AddNew([]string{string(b)}) != "" {
			all = append(all, string(b))
		}
	}
	for _, p := range []string{"a", "ab", "ma", "gex", "x0", "\x00a", "\x00mg", "e\x00", "ga\x00", "\x00b\x00", "\xe5\xe5", "aaaa", "zz"} {
		var want []string
		for _, w := range all {
			if strings.Contains("\x00"+w+"\x00", p) {
				want = append(want, w)
			}
		}
		got, ok := v.Find(p, func(string) bool { return true }, 1<<30)
		slices.Sort(want)
		slices.Sort(got)
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("Find(%q): %d words, want %d", p, len(got), len(want))
		}
	}
}
