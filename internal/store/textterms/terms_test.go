package textterms

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQueryPieces(t *testing.T) {
	type P = Piece
	for _, c := range []struct {
		in   string
		addr bool
		want []Piece
		sure bool
	}{
		{"", false, nil, false},
		{"ab", false, []P{{"ab", Infix}}, true},
		{"发", false, nil, false},
		{"发票", false, []P{{"发票", Bigram}}, true},
		{"invoice", false, []P{{"invoice", Infix}}, true},
		{"q3发票", false, []P{{"q3", Suffix}, {"发票", Bigram}}, false},
		{"增值税发票", false, []P{{"增值", Bigram}, {"值税", Bigram}, {"税发", Bigram}, {"发票", Bigram}}, false},
		{"invoice meeting", false, []P{{"invoice", Suffix}, {"meeting", Prefix}}, false},
		{"a big deal", false, []P{{"a", Suffix}, {"big", Whole}, {"deal", Prefix}}, false},
		{"from3@", false, []P{{"from3", Suffix}}, false},
		{"from3@", true, []P{{"from3@", Infix}}, true},
		{"<bob@x.org>", true, []P{{"bob@x.org", Whole}}, false},
		{"müller", false, []P{{"müller", Infix}}, true},
	} {
		got, sure := Query(c.in, c.addr)
		if !slices.Equal(got, c.want) || sure != c.sure {
			t.Errorf("Query(%q, %v) = %v, %v; want %v, %v", c.in, c.addr, got, sure, c.want, c.sure)
		}
	}
}

// TestTextTerms: words (addresses whole in address fields), CJK bigrams,
// long words as overlapping chunks.
func TestTextTerms(t *testing.T) {
	terms := func(s string, addr bool) []string {
		var out []string
		Each(s, addr, func(w string) { out = append(out, w) })
		return out
	}
	for _, c := range []struct {
		in   string
		addr bool
		want []string
	}{
		{"abc, abc!", false, []string{"abc", "abc"}},
		{"ab发票税x", false, []string{"ab", "发票", "票税", "x"}},
		{"bob <bob@x.org>", true, []string{"bob", "bob@x.org"}},
		{"bob <bob@x.org>", false, []string{"bob", "bob", "x", "org"}},
		{"发", false, nil},
	} {
		if got := terms(c.in, c.addr); !slices.Equal(got, c.want) {
			t.Errorf("Each(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("abcdefghij", 20) // 200 runes
	chunks := terms(long, false)
	if len(chunks) < 4 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for _, w := range chunks {
		if utf8.RuneCountInString(w) != MaxTermRunes {
			t.Errorf("chunk %q", w)
		}
	}
	// Every window of chunkOverlap+1 runes lies in a chunk.
	for i := 0; i+chunkOverlap+1 <= len(long); i++ {
		sub := long[i : i+chunkOverlap+1]
		if !slices.ContainsFunc(chunks, func(w string) bool { return strings.Contains(w, sub) }) {
			t.Fatalf("%q at %d in no chunk", sub, i)
		}
	}
	if !strings.HasSuffix(long, chunks[len(chunks)-1]) || !strings.HasPrefix(long, chunks[0]) {
		t.Error("first or last chunk is not the word's start or end")
	}
}

// FuzzQueryPieces: a text that contains a term has, for every Piece of the
// term, a word (or bigram) the Piece matches; and a word that proves the
// term is in a text that contains it.
func FuzzQueryPieces(f *testing.F) {
	for _, s := range []string{"发票", "a b", "x@y.z", strings.Repeat("long", 30), "Q3发票 ok", "<a@b>", "é"} {
		f.Add("pre "+s+" post", s, false)
		f.Add(s, s, true)
	}
	f.Fuzz(func(t *testing.T, text, term string, addr bool) {
		text, term = strings.ToLower(text), strings.ToLower(term)
		if !strings.Contains(text, term) {
			return
		}
		var words []string
		Each(text, addr, func(w string) { words = append(words, w) })
		ps, sure := Query(term, addr)
		for _, p := range ps {
			found := false
			for _, w := range words {
				if p.Kind == Whole && w == FirstRunes(p.S, MaxTermRunes) || p.Kind == Bigram && w == p.S || p.Kind != Whole && p.Kind != Bigram && p.Matches(w) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("Piece %+v of %q: no word of %q matches (%q)", p, term, text, words)
			}
		}
		if sure {
			for _, w := range words {
				if ps[0].Kind == Infix && ps[0].Matches(w) && ps[0].Proves(w) && !strings.Contains(text, ps[0].S) {
					t.Fatalf("%q proves %q", w, term)
				}
			}
		}
	})
}
