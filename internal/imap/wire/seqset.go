package wire

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Star stands for "*" in a sequence set: the largest number in use
// (RFC 9051 §9, seq-number).
const Star = 0

// SeqRange is an inclusive range of a sequence set. Either end may be Star.
// As parsed, Lo and Hi are as written ("5:2" gives Lo 5, Hi 2); Normalise
// orders them.
type SeqRange struct{ Lo, Hi uint32 }

// SeqSet is a sequence set (RFC 9051 §9 sequence-set) of message sequence
// numbers or UIDs. Saved is the "$" of SEARCHRES (RFC 5182 §2): the set is
// the result of the last SEARCH with SAVE, and Ranges is empty.
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// ErrBadSeqSet is returned by ParseSeqSet.
var ErrBadSeqSet = errors.New("imap: invalid sequence set")

// ParseSeqSet parses a sequence set: comma-separated numbers (non-zero,
// 32-bit), "*", ranges "a:b", or "$" alone.
func ParseSeqSet(s string) (SeqSet, error) {
	if s == "$" {
		return SeqSet{Saved: true}, nil
	}
	if s == "" {
		return SeqSet{}, ErrBadSeqSet
	}
	var set SeqSet
	for len(s) > 0 {
		part := s
		if i := strings.IndexByte(s, ','); i >= 0 {
			part, s = s[:i], s[i+1:]
			if s == "" {
				return SeqSet{}, ErrBadSeqSet
			}
		} else {
			s = ""
		}
		lo, hi := part, part
		if i := strings.IndexByte(part, ':'); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, err := parseSeqNumber(lo)
		if err != nil {
			return SeqSet{}, err
		}
		b, err := parseSeqNumber(hi)
		if err != nil {
			return SeqSet{}, err
		}
		set.Ranges = append(set.Ranges, SeqRange{a, b})
	}
	return set, nil
}

func parseSeqNumber(s string) (uint32, error) {
	if s == "*" {
		return Star, nil
	}
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, ErrBadSeqSet
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadSeqSet
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, ErrBadSeqSet
	}
	return uint32(n), nil
}

// String formats the set in wire form.
func (s SeqSet) String() string {
	if s.Saved {
		return "$"
	}
	var b []byte
	for i, r := range s.Ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSeqNumber(b, r.Lo)
		if r.Hi != r.Lo {
			b = append(b, ':')
			b = appendSeqNumber(b, r.Hi)
		}
	}
	return string(b)
}

func appendSeqNumber(b []byte, n uint32) []byte {
	if n == Star {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// Resolve replaces Star by max, orders each range and returns the ranges
// sorted and merged, clipped to 1..max when clip is set (message sequence
// numbers), or with "*" meaning max but no clipping (UIDs, RFC 9051 §6.4.9:
// "*" is the largest UID in use, and a range reaching past it still
// includes it). An empty mailbox (max 0) yields no ranges when clip is set.
func (s SeqSet) Resolve(max uint32, clip bool) []SeqRange {
	out := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		lo, hi := r.Lo, r.Hi
		if lo == Star {
			lo = max
		}
		if hi == Star {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if clip {
			if lo == 0 {
				lo = 1
			}
			if hi > max {
				hi = max
			}
			if lo > hi {
				continue
			}
		} else if hi == 0 {
			continue
		} else if lo == 0 {
			lo = 1
		}
		out = append(out, SeqRange{lo, hi})
	}
	return mergeRanges(out)
}

func mergeRanges(rs []SeqRange) []SeqRange {
	if len(rs) < 2 {
		return rs
	}
	slices.SortFunc(rs, func(a, b SeqRange) int { return cmp.Compare(a.Lo, b.Lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if uint64(r.Lo) <= uint64(last.Hi)+1 {
			if r.Hi > last.Hi {
				last.Hi = r.Hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}
