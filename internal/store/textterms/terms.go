// Package textterms cuts text into the terms of a text index
// (store.TextIndex) and SEARCH values into the pieces looked up in it, and
// reads what the index covers of a message, so that every backend's index
// (SQLite, PostgreSQL) cuts and narrows the same way and answers what a
// scan answers.
package textterms

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The terms of the text index. Go cuts each field's text (lower-cased, as
// the matcher of RFC 9051 §6.4.4 folds) into terms, kept exactly as they
// are in the text, so that a term proves what it contains:
//
//   - words: maximal runs of term characters (letters and digits outside
//     CJK; in the address fields FROM, TO, CC and BCC also "@.-_+=", so
//     that a whole address such as alice@example.org is one term);
//   - CJK bigrams: each pair of adjacent CJK letters (Chinese, Japanese,
//     Korean are written without spaces, and two-character words such as
//     发票 are the common query).
//
// A word longer than MaxTermRunes is written as chunks of MaxTermRunes
// starting every chunkStep runes (and one ending at its end), so that any
// chunkOverlap+1 runes of it lie inside one chunk.
//
// A SEARCH term is cut the same way into pieces (Query): a text that
// contains the term contains every piece, and a piece bounded by non-term
// characters in the term is bounded so in the text. So a piece is looked
// up as the words that are it (bounded on both sides), start with it
// (bounded on its left), end with it (bounded on its right) or contain it
// (a term without separators), found in the vocabulary (Vocab), not
// in the text: a word is written once per field and message. A term that
// is one piece without separators is proved by the words that contain it:
// the text has that word, so it contains the term.

const (
	// MaxTermRunes bounds a term: longer words are written as chunks.
	MaxTermRunes = 64
	chunkStep    = 48
	chunkOverlap = MaxTermRunes - chunkStep
	// queryWindow is how much of a piece is sure to lie inside one term
	// (a chunk of a long word): the vocabulary is searched for it.
	queryWindow = chunkOverlap
)

// IsCJK reports whether r is a letter of a script written without spaces
// between words, which the bigrams cover.
func IsCJK(r rune) bool {
	if r < 0x1100 { // below Hangul Jamo: ASCII, Latin, Greek, Cyrillic…
		return false
	}
	return unicode.IsLetter(r) && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// termRune reports whether r belongs in a word; addr: of an address field.
func termRune(r rune, addr bool) bool {
	if r < 0x80 {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', 'A' <= r && r <= 'Z':
			return true
		case addr:
			return strings.IndexByte("@.-_+=", byte(r)) >= 0
		}
		return false
	}
	return (unicode.IsLetter(r) || unicode.IsNumber(r)) && !IsCJK(r)
}

// AddrField reports whether the field (store.TextField - 1) holds
// addresses.
func AddrField(f int) bool { return f >= 1 && f <= 4 }

// Each calls fn with every term of s (lower-cased), repeats included:
// its words (chunked when long) and its CJK bigrams.
func Each(s string, addr bool, fn func(term string)) {
	start := -1 // start of the current word
	runes := 0  // its runes
	prev := -1  // offset of the previous rune if it is a CJK letter
	for i, r := range s {
		if termRune(r, addr) {
			if start < 0 {
				start, runes = i, 0
			}
			runes++
			prev = -1
			continue
		}
		if start >= 0 {
			emitWord(s[start:i], runes, fn)
			start = -1
		}
		if IsCJK(r) {
			if prev >= 0 {
				fn(s[prev : i+utf8.RuneLen(r)])
			}
			prev = i
		} else {
			prev = -1
		}
	}
	if start >= 0 {
		emitWord(s[start:], runes, fn)
	}
}

// emitWord writes a word, or the chunks of a long one.
func emitWord(w string, runes int, fn func(string)) {
	if runes <= MaxTermRunes {
		fn(w)
		return
	}
	rs := []rune(w)
	for at := 0; ; at += chunkStep {
		if at+MaxTermRunes >= len(rs) {
			fn(string(rs[len(rs)-MaxTermRunes:]))
			return
		}
		fn(string(rs[at : at+MaxTermRunes]))
	}
}

// Kind says how a piece of a SEARCH term lies in the words of a text
// that contains the term.
type Kind uint8

// The kinds of pieces.
const (
	Whole  Kind = iota // bounded on both sides: a whole word
	Prefix             // bounded on its left: starts a word
	Suffix             // bounded on its right: ends a word
	Infix              // the whole term: inside a word
	Bigram             // two CJK letters: a term as it is
)

// Piece is a piece of a SEARCH term and how it lies in the words.
type Piece struct {
	S    string
	Kind Kind
}

// Query cuts value (lower-cased) into its pieces; sure reports
// whether the term is one piece whose hits prove it (one word without
// separators, or two CJK letters).
func Query(value string, addr bool) (ps []Piece, sure bool) {
	start := -1
	prev := -1
	for i, r := range value {
		if termRune(r, addr) {
			if start < 0 {
				start = i
			}
			prev = -1
			continue
		}
		if start >= 0 {
			ps = append(ps, wordPiece(value, start, i))
			start = -1
		}
		if IsCJK(r) {
			if prev >= 0 {
				ps = append(ps, Piece{S: value[prev : i+utf8.RuneLen(r)], Kind: Bigram})
			}
			prev = i
		} else {
			prev = -1
		}
	}
	if start >= 0 {
		ps = append(ps, wordPiece(value, start, len(value)))
	}
	sure = len(ps) == 1 && len(ps[0].S) == len(value) && (ps[0].Kind == Infix || ps[0].Kind == Bigram)
	return ps, sure
}

func wordPiece(v string, from, to int) Piece {
	p := Piece{S: v[from:to]}
	switch {
	case from > 0 && to < len(v):
		p.Kind = Whole
	case from > 0:
		p.Kind = Prefix
	case to < len(v):
		p.Kind = Suffix
	default:
		p.Kind = Infix
	}
	return p
}

// FirstRunes and LastRunes return at most n runes of s.
func FirstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func LastRunes(s string, n int) string {
	for i := len(s); i > 0; {
		_, sz := utf8.DecodeLastRuneInString(s[:i])
		i -= sz
		n--
		if n == 0 {
			return s[i:]
		}
	}
	return s
}

// LookupWindow is the part of a piece (not whole, not a bigram) every
// word that can hold it has; "" when it is too short to narrow (most
// words would do).
func (p Piece) LookupWindow() string {
	var w string
	if p.Kind == Suffix {
		w = LastRunes(p.S, queryWindow)
	} else {
		w = FirstRunes(p.S, queryWindow)
	}
	// Words start or end with few two-rune pieces ("n1"), many
	// contain one.
	least := 3
	if p.Kind != Infix {
		least = 2
	}
	if utf8.RuneCountInString(w) < least {
		return ""
	}
	return w
}

// Matches reports whether the word w of the vocabulary can hold the piece:
// a chunk of a long word (MaxTermRunes runes) only surely holds the
// piece's window.
func (p Piece) Matches(w string) bool {
	chunk := utf8.RuneCountInString(w) == MaxTermRunes
	switch p.Kind {
	case Prefix:
		return strings.HasPrefix(w, FirstRunes(p.S, MaxTermRunes))
	case Suffix:
		return strings.HasSuffix(w, LastRunes(p.S, MaxTermRunes))
	case Infix:
		if chunk {
			return strings.Contains(w, FirstRunes(p.S, queryWindow))
		}
		return strings.Contains(w, p.S)
	}
	return w == p.S
}

// Proves reports whether a text with the word w, which matches the infix
// Piece, surely contains it (a chunk may hold only its window).
func (p Piece) Proves(w string) bool {
	return p.Kind == Bigram || strings.Contains(w, p.S)
}
