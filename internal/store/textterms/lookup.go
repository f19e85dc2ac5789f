package textterms

import (
	"slices"
	"strings"

	"github.com/youju/youju/internal/store"
)

// What every backend's lookup of a SEARCH term shares: which pieces to
// look up, gathering a piece's postings, and turning the pieces' UIDs
// into candidates; the backends differ only in how they read postings.

// SearchPieces cuts a SEARCH value of field (0 = SUBJECT, as AddrField
// counts) into the pieces an index can look up; sure says whether the
// words that prove every piece prove the value (Query). No pieces: the
// index cannot narrow the value.
func SearchPieces(value string, field int) (ps []Piece, sure bool) {
	ps, sure = Query(strings.ToLower(value), AddrField(field))
	ps = slices.DeleteFunc(ps, func(p Piece) bool {
		return p.Kind != Whole && p.Kind != Bigram && p.LookupWindow() == ""
	})
	return ps, sure
}

// Hits gathers the postings of the words a piece is looked up as: All
// the UIDs of any of them, Proved (when sure) those of the words that
// prove the piece.
type Hits struct {
	All, Proved UIDBits
	want        map[string]bool
	piece       Piece
	sure        bool
}

// NewHits makes the empty Hits of a piece looked up as words, for UIDs
// below below.
func NewHits(p Piece, words []string, sure bool, below store.UID) *Hits {
	h := &Hits{All: NewUIDBits(below), want: make(map[string]bool, len(words)), piece: p, sure: sure}
	if sure {
		h.Proved = NewUIDBits(below)
	}
	for _, w := range words {
		h.want[w] = true
	}
	return h
}

// Wants reports whether term is one of the words looked up.
func (h *Hits) Wants(term string) bool { return h.want[term] }

// Add adds the UID list (AppendUIDs) of term, one of the words; false
// when the list is damaged.
func (h *Hits) Add(term string, list []byte) bool {
	ok := EachUID(list, h.All.Add)
	if h.sure && h.piece.Proves(term) {
		ok = EachUID(list, h.Proved.Add) && ok
	}
	return ok
}

// Lookup is what a backend reads for Candidates.
type Lookup struct {
	// Vocab finds the words of a piece (at most MaxWords, or the piece
	// does not narrow).
	Vocab    *Vocab
	MaxWords int
	// Postings reads the postings of a piece's words (NewHits).
	Postings func(p Piece, words []string, sure bool) (*Hits, error)
	// Big adds to bits the messages with more text than indexed.
	Big func(bits UIDBits) error
	// Mark is the last UID indexed; UIDNext the mailbox's.
	Mark, UIDNext store.UID
}

// Candidates narrows a term of pieces ps (SearchPieces) to the messages
// that may have it: those in the postings of every piece that narrows,
// the big ones, and those above the mark (not indexed yet); Sure are
// those proved to have it (when sure and the pieces prove the term). ok
// is false when no piece narrows: the caller scans.
func (l *Lookup) Candidates(ps []Piece, sure bool) (m store.TextMatches, ok bool, err error) {
	var hits, proved UIDBits
	narrowed := false
	for _, p := range ps {
		words, ok := l.Vocab.PieceWords(p, l.MaxWords)
		if !ok {
			sure = false
			continue
		}
		h, err := l.Postings(p, words, sure)
		if err != nil {
			return m, false, err
		}
		if narrowed {
			hits.And(h.All)
		} else {
			hits, proved, narrowed = h.All, h.Proved, true
		}
	}
	if !narrowed {
		return m, false, nil
	}
	big := NewUIDBits(l.UIDNext)
	if err := l.Big(big); err != nil {
		return m, false, err
	}
	if sure {
		proved.AndNot(big)
		m.Sure = proved.Set()
	}
	hits.Or(big)
	m.Candidates = hits.Set()
	if l.Mark+1 < l.UIDNext {
		m.Candidates = m.Candidates.AppendRange(l.Mark+1, l.UIDNext-1)
	}
	return m, true, nil
}
