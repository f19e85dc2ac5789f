package textterms

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// Vocab is the vocabulary of a text index in memory: every word (not CJK
// bigrams, looked up as they are) of every field and mailbox, to find the
// words that hold a piece of a SEARCH term. A backend keeps it on disk as
// rows of new words appended per indexer batch ("\x00"-separated: a word
// never holds "\x00") numbered by a sequence, and loads the rows it has
// not seen. In memory it is one string "\x00w1\x00w2\x00…\x00", scanned for
// a pattern's rarest byte (Find), and the words' offsets kept sorted for
// prefix pieces (prefixWords), instead of a trigram index that would cost
// more than the postings of rare words.
type Vocab struct {
	mu    sync.Mutex
	seq   int64               // the last row loaded
	buf   []byte              // "\x00w1\x00w2\x00…"
	offs  []int32             // start of each word in buf
	known map[string]struct{} // the words, to tell new ones
	// sorted holds the offsets of the first len(sorted) words of offs in
	// the order of the words, for prefix pieces (prefixWords).
	sorted []int32
	// freq counts each byte value in buf: Find looks for a pattern's
	// rarest byte first.
	freq [256]int
}

// Seq is the number of the last row loaded.
func (v *Vocab) Seq() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seq
}

// Load adds the words of row seq ("\x00"-separated).
func (v *Vocab) Load(seq int64, words string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, w := range strings.Split(words, "\x00") {
		v.addLocked(w)
	}
	v.seq = seq
}

func (v *Vocab) addLocked(w string) bool {
	if w == "" {
		return false
	}
	if v.known == nil {
		v.known = map[string]struct{}{}
		v.buf = []byte{0}
	}
	if _, ok := v.known[w]; ok {
		return false
	}
	v.offs = append(v.offs, int32(len(v.buf)))
	v.buf = append(v.buf, w...)
	v.buf = append(v.buf, 0)
	for i := 0; i < len(w); i++ {
		v.freq[w[i]]++
	}
	v.freq[0]++
	v.known[w] = struct{}{}
	return true
}

// AddNew adds the words it lacks and returns them "\x00"-separated, for
// the row of the batch ("" for none).
func (v *Vocab) AddNew(words []string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, w := range words {
		if v.addLocked(w) {
			if b.Len() > 0 {
				b.WriteByte(0)
			}
			b.WriteString(w)
		}
	}
	return b.String()
}

// Missing returns, "\x00"-separated, the words it lacks, without adding
// them: for a backend whose batch may roll back, and whose vocabulary other
// processes load from its rows, the words are known only once loaded from
// a committed row.
func (v *Vocab) Missing(words []string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	seen := map[string]bool{}
	for _, w := range words {
		if _, ok := v.known[w]; ok || w == "" || seen[w] {
			continue
		}
		seen[w] = true
		if b.Len() > 0 {
			b.WriteByte(0)
		}
		b.WriteString(w)
	}
	return b.String()
}

// Find returns the words that contain pattern (which may begin or end
// with "\x00" to anchor it at a word's start or end) and pass keep; false
// when more than max do.
func (v *Vocab) Find(pattern string, keep func(w string) bool, max int) ([]string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	if len(v.buf) == 0 {
		return nil, true
	}
	if pattern == "" {
		return nil, false // every word: no narrowing
	}
	buf := unsafe.String(&v.buf[0], len(v.buf)) // no copy: read-only under mu
	// strings.Index stops at every occurrence of the pattern's first
	// byte: "message\x00" at every m of every "example.com". The rarest
	// byte of the pattern is looked for instead, and the pattern around it.
	j := v.rarest(pattern)
	for at := 0; at+len(pattern) <= len(buf); {
		i := strings.IndexByte(buf[at+j:len(buf)-(len(pattern)-1-j)], pattern[j])
		if i < 0 {
			break
		}
		pos := at + i // where the pattern would start
		if buf[pos:pos+len(pattern)] != pattern {
			at = pos + 1
			continue
		}
		if pattern[0] == 0 {
			pos++ // the match starts at the word
		}
		k := sort.Search(len(v.offs), func(k int) bool { return int(v.offs[k]) > pos }) - 1
		if k < 0 {
			at = pos + 1
			continue
		}
		start := int(v.offs[k])
		end := start + strings.IndexByte(buf[start:], 0)
		if w := buf[start:end]; keep(w) {
			if len(out) == max {
				return nil, false
			}
			out = append(out, strings.Clone(w))
		}
		at = end // next word
	}
	return out, true
}

// PieceWords returns the words of the vocabulary that can hold a piece;
// false when more than max do (it would not narrow).
func (v *Vocab) PieceWords(p Piece, max int) ([]string, bool) {
	var pat string
	switch p.Kind {
	case Whole:
		return []string{FirstRunes(p.S, MaxTermRunes)}, true
	case Bigram:
		return []string{p.S}, true
	case Prefix:
		return v.prefixWords(FirstRunes(p.S, MaxTermRunes), p.Matches, max)
	case Suffix:
		pat = LastRunes(p.S, MaxTermRunes) + "\x00"
	default:
		pat = p.LookupWindow()
	}
	return v.Find(pat, p.Matches, max)
}

// prefixWords is Find("\x00"+prefix, keep, max) by binary search in the
// words kept sorted, and a scan of those added since: a scan of the whole
// buffer for "\x00"+prefix stops at every word (its first byte is the
// separator), which was half of SEARCH SUBJECT "message 4242" on 100k
// messages. The order of the words differs from Find's.
func (v *Vocab) prefixWords(prefix string, keep func(w string) bool, max int) ([]string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sortLocked()
	var out []string
	add := func(w string) bool {
		if !keep(w) {
			return true
		}
		if len(out) == max {
			return false
		}
		out = append(out, strings.Clone(w))
		return true
	}
	i := sort.Search(len(v.sorted), func(i int) bool { return v.word(v.sorted[i]) >= prefix })
	for ; i < len(v.sorted); i++ {
		w := v.word(v.sorted[i])
		if !strings.HasPrefix(w, prefix) {
			break
		}
		if !add(w) {
			return nil, false
		}
	}
	for _, off := range v.offs[len(v.sorted):] {
		if w := v.word(off); strings.HasPrefix(w, prefix) && !add(w) {
			return nil, false
		}
	}
	return out, true
}

// sortLocked brings the added words into sorted once they are more than
// an eighth of it (at least 1,024): the new ones sorted, then merged.
func (v *Vocab) sortLocked() {
	n := len(v.sorted)
	if len(v.offs)-n <= max(1024, n/8) {
		return
	}
	tail := slices.Clone(v.offs[n:])
	slices.SortFunc(tail, func(a, b int32) int { return strings.Compare(v.word(a), v.word(b)) })
	merged := make([]int32, 0, len(v.offs))
	i, j := 0, 0
	for i < n && j < len(tail) {
		if v.word(v.sorted[i]) <= v.word(tail[j]) {
			merged = append(merged, v.sorted[i])
			i++
		} else {
			merged = append(merged, tail[j])
			j++
		}
	}
	merged = append(merged, v.sorted[i:]...)
	v.sorted = append(merged, tail[j:]...)
}

// word is the word at offset off of buf; under mu.
func (v *Vocab) word(off int32) string {
	b := v.buf[off:]
	if end := bytes.IndexByte(b, 0); end >= 0 {
		b = b[:end]
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// rarest is the index of the byte of pattern that occurs least in buf.
func (v *Vocab) rarest(pattern string) int {
	j := 0
	for i := 1; i < len(pattern); i++ {
		if v.freq[pattern[i]] < v.freq[pattern[j]] {
			j = i
		}
	}
	return j
}
