package sqlite

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The grams of the text index. Go cuts the text into grams and writes each
// distinct gram of a field once, as a token of FTS5's unicode61 tokenizer
// (detail=none keeps no positions or counts, so repeats would be work for
// nothing): the trigrams of the text outside CJK runs, and the bigrams of
// adjacent CJK letters (Chinese, Japanese and Korean, written without
// spaces, where two-character words such as 发票 are the common query, too
// short for trigrams; each CJK character costs one gram instead of two).
//
// Each character of a gram is written as gramRune maps it: itself for the
// characters unicode61 surely keeps inside a token unchanged (a-z, 0-9, the
// common CJK blocks), else a character of the Private Use Area (which
// unicode61 also keeps, and never folds) chosen by its code point modulo
// 6400. That map is a function, applied alike to the text and to the query,
// so a text that contains the query contains every gram of it: the index
// never loses a match. Where it is not one to one, two different grams can
// share a token, so the index may answer more messages: the scan of the
// candidates decides.
//
// A gram made only of characters the map keeps is exact: a message whose
// field has that token contains that very string. So a query that is one
// such gram (three letters or digits, or two CJK letters: the term, not a
// part of it) is proved by the index, and its hits need no scan.

// cjkMark stands for a run of CJK letters in the trigram text: grams
// containing it are never written nor looked up.
const cjkMark = '\x01'

// isCJK reports whether r is a letter of a script written without spaces
// between words, which the bigrams cover.
func isCJK(r rune) bool {
	if r < 0x1100 { // below Hangul Jamo: ASCII, Latin, Greek, Cyrillic…
		return false
	}
	return unicode.IsLetter(r) && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// keptRune reports whether unicode61 keeps r as it is inside a token in
// every SQLite version: ASCII letters and digits (the text is lower-cased
// already), CJK Unified Ideographs of Unicode 1.1, Hiragana, Katakana,
// Hangul syllables.
func keptRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
		return true
	case 0x4E00 <= r && r <= 0x9FA5, 0x3041 <= r && r <= 0x3094, 0x30A1 <= r && r <= 0x30FA, 0xAC00 <= r && r <= 0xD7A3:
		return true
	}
	return false
}

// wordRune reports whether r is a letter or a digit. A trigram whose middle
// is not (a space or punctuation between two words: "a b", "x, ") is not
// written nor looked up: such grams are many per message (any two words
// can meet) and narrow little, the grams on either side narrow as well.
func wordRune(r rune) bool {
	return r < 0x80 && keptRune(r) || r >= 0x80 && (unicode.IsLetter(r) || unicode.IsNumber(r))
}

// gramRune is the character r is written as in a token.
func gramRune(r rune) rune {
	if keptRune(r) {
		return r
	}
	return 0xE000 + r%6400
}

// gramKey packs the two or three runes of a gram as gramRune writes them,
// 21 bits each (none is zero).
type gramKey uint64

func packGram(rs ...rune) gramKey {
	var k gramKey
	for _, r := range rs {
		k = k<<21 | gramKey(gramRune(r))
	}
	return k
}

func (k gramKey) appendTo(b []byte) []byte {
	var rs [3]rune
	l := 0
	for x := k; x != 0; x >>= 21 {
		rs[l] = rune(x & (1<<21 - 1))
		l++
	}
	for i := l - 1; i >= 0; i-- {
		b = utf8.AppendRune(b, rs[i])
	}
	return b
}

// textGrams calls fn with every gram of s (lower-cased), repeats included,
// in order: trigrams outside CJK runs, then bigrams inside them.
func textGrams(s string, fn func(k gramKey)) {
	var w [3]rune // the last runes outside CJK (cjkMark for a run)
	n := 0
	var prev rune // the previous CJK letter, 0 after another rune
	push := func(r rune) {
		w[0], w[1], w[2] = w[1], w[2], r
		if n < 3 {
			n++
		}
		if n == 3 && w[0] != cjkMark && w[1] != cjkMark && w[2] != cjkMark && wordRune(w[1]) {
			fn(packGram(w[0], w[1], w[2]))
		}
	}
	for _, r := range s {
		if isCJK(r) {
			if prev != 0 {
				fn(packGram(prev, r))
			} else {
				push(cjkMark)
			}
			prev = r
			continue
		}
		prev = 0
		push(r)
	}
}

// docTokens returns the distinct grams of s as space-separated tokens.
func docTokens(s string) string {
	seen := make(map[gramKey]struct{}, len(s)/4)
	var b []byte
	textGrams(s, func(k gramKey) {
		if _, ok := seen[k]; ok {
			return
		}
		seen[k] = struct{}{}
		b = k.appendTo(b)
		b = append(b, ' ')
	})
	return string(b)
}

// maxQueryGrams bounds the grams of one lookup: fewer still give a
// superset, and each costs a doclist read.
const maxQueryGrams = 16

// queryGrams returns the FTS5 query of value (lower-cased, as the matcher
// of RFC 9051 §6.4.4 folds): the AND of its distinct grams, at most
// maxQueryGrams of them spread over the term, "" for none; and whether
// the index proves its hits (the term is one gram of kept characters).
func queryGrams(value string) (query string, exact bool) {
	value = strings.ToLower(value)
	var grams []gramKey
	seen := map[gramKey]bool{}
	textGrams(value, func(k gramKey) {
		if !seen[k] {
			seen[k] = true
			grams = append(grams, k)
		}
	})
	if len(grams) == 0 {
		return "", false
	}
	exact = len(grams) == 1 && isExactGram(value)
	step := max(1, (len(grams)+maxQueryGrams-1)/maxQueryGrams)
	var b []byte
	add := func(k gramKey) {
		if len(b) > 0 {
			b = append(b, " AND "...)
		}
		b = append(b, '"')
		b = k.appendTo(b)
		b = append(b, '"')
	}
	for i := 0; i < len(grams); i += step {
		add(grams[i])
	}
	if (len(grams)-1)%step != 0 {
		add(grams[len(grams)-1])
	}
	return string(b), exact
}

// isExactGram reports whether s is itself one gram of kept characters:
// three non-CJK or two CJK ones.
func isExactGram(s string) bool {
	rs := []rune(s)
	for _, r := range rs {
		if !keptRune(r) {
			return false
		}
	}
	switch len(rs) {
	case 3:
		return !isCJK(rs[0]) && !isCJK(rs[1]) && !isCJK(rs[2])
	case 2:
		return isCJK(rs[0]) && isCJK(rs[1])
	}
	return false
}
