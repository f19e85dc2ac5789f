package textterms

import (
	"slices"
	"testing"
)

// TestUIDLists: sparse lists as deltas, dense ones as bitmaps, both read
// back as written.
func TestUIDLists(t *testing.T) {
	sparse := []uint32{1, 100, 5000, 1 << 31}
	var dense []uint32
	for u := uint32(70000); u < 80000; u += 3 {
		dense = append(dense, u)
	}
	for _, l := range [][]uint32{sparse, dense, {1}, {4294967295}} {
		b := AppendUIDs(nil, l)
		var got []uint32
		if !EachUID(b, func(u uint32) { got = append(got, u) }) || !slices.Equal(got, l) {
			t.Errorf("%d UIDs: read back %d", len(l), len(got))
		}
		if len(l) == len(dense) && (b[0] != 0 || len(b) > len(dense)/2) {
			t.Errorf("dense list in %d bytes", len(b))
		}
	}
}

// FuzzUIDList: a damaged list is refused or read, never a panic.
func FuzzUIDList(f *testing.F) {
	f.Add(AppendUIDs(nil, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		prev, first := uint32(0), true
		EachUID(b, func(u uint32) {
			if !first && u < prev {
				t.Fatalf("not ascending: %d after %d", u, prev)
			}
			prev, first = u, false
		})
	})
}
