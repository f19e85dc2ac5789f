package textterms

import (
	"encoding/binary"
	"math/bits"

	"github.com/youju/youju/internal/store"
)

// The UID lists of postings, as every backend writes them.

// AppendUIDs appends ascending uids to b: as uvarint deltas, or where
// that is longer (a term in more than about an eighth of the messages of
// its span) as a bitmap: a 0 byte (never a first delta: UIDs start at 1),
// the first UID, then one bit per UID from it.
func AppendUIDs(b []byte, uids []uint32) []byte {
	if len(uids) == 0 {
		return b
	}
	start := len(b)
	prev := uint32(0)
	for _, u := range uids {
		b = binary.AppendUvarint(b, uint64(u-prev))
		prev = u
	}
	lo, hi := uids[0], uids[len(uids)-1]
	bm := 1 + binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(lo)) + int(hi-lo)/8 + 1
	if bm >= len(b)-start {
		return b
	}
	b = append(b[:start], 0)
	b = binary.AppendUvarint(b, uint64(lo))
	bits := len(b)
	b = append(b, make([]byte, int(hi-lo)/8+1)...)
	for _, u := range uids {
		b[bits+int(u-lo)/8] |= 1 << ((u - lo) % 8)
	}
	return b
}

// EachUID calls fn with the UIDs of a list; false when it is damaged.
func EachUID(b []byte, fn func(u uint32)) bool {
	if len(b) > 0 && b[0] == 0 {
		lo, n := binary.Uvarint(b[1:])
		if n <= 0 || lo > 1<<32-1 || uint64(len(b)-1-n)*8 > 1<<32-1-lo {
			return false
		}
		for i, x := range b[1+n:] {
			for x != 0 {
				j := bits.TrailingZeros8(x)
				fn(uint32(lo) + uint32(i*8+j))
				x &= x - 1
			}
		}
		return true
	}
	u := uint64(0)
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		u += d
		if u > 1<<32-1 {
			return false
		}
		fn(uint32(u))
		b = b[n:]
	}
	return true
}

// UIDBits is a set of UIDs below a bound, one bit each: unions and
// intersections of thousands of hits cost microseconds.
type UIDBits []uint64

// NewUIDBits makes an empty set of the UIDs below a bound.
func NewUIDBits(below store.UID) UIDBits { return make(UIDBits, int(below)/64+1) }

// Add adds u (ignored when not below the bound).
func (s UIDBits) Add(u uint32) {
	if i := int(u / 64); i < len(s) {
		s[i] |= 1 << (u % 64)
	}
}

// And keeps the UIDs of s also in o.
func (s UIDBits) And(o UIDBits) {
	for i := range s {
		s[i] &= o[i]
	}
}

// Or adds the UIDs of o.
func (s UIDBits) Or(o UIDBits) {
	for i := range s {
		s[i] |= o[i]
	}
}

// AndNot drops the UIDs of o.
func (s UIDBits) AndNot(o UIDBits) {
	for i := range s {
		s[i] &^= o[i]
	}
}

// Set returns the runs of s.
func (s UIDBits) Set() store.UIDSet {
	out := store.UIDSet{}
	for i, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			u := store.UID(i*64 + b)
			if u != 0 {
				out = out.AppendRange(u, u)
			}
			w &= w - 1
		}
	}
	return out
}
