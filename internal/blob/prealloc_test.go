package blob

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

func fileLen(t *testing.T, s *Store, id uint32) int64 {
	t.Helper()
	fi, err := os.Stat(s.path(id))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPreallocatedSegments: the active segment is zeroed ahead of its
// end, zeroing never lands on a frame (every blob reads back), a crash
// leaves a zero tail that Scan stops at and Recover cuts, and a roll and
// Close leave no zeros behind.
func TestPreallocatedSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 256 << 10, Prealloc: 16 << 10}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Recover(nil, 0)
	type written struct {
		ref  Ref
		data []byte
	}
	var all []written
	var ends []Pos
	ahead := false
	for i := range 120 {
		datas := [][]byte{bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i*37), []byte(fmt.Sprintf("blob %d", i))}
		refs, end := writeBatch(t, s, datas, []byte{byte(i)})
		ends = append(ends, end)
		for j := range refs {
			all = append(all, written{refs[j], datas[j]})
		}
		if fileLen(t, s, end.Segment) > end.Offset {
			ahead = true
		}
	}
	if !ahead {
		t.Fatal("the active segment was never longer than its frames: no preallocation")
	}
	segs := s.Segments()
	if len(segs) < 2 {
		t.Fatalf("segments %v: want a roll", segs)
	}
	check := func(s *Store) {
		t.Helper()
		for _, w := range all {
			r, err := s.Open(w.ref)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, w.ref.Length)
			_, err = r.ReadAt(got, 0)
			r.Close()
			if err != nil || !bytes.Equal(got, w.data) {
				t.Fatalf("blob %v read back wrong (err %v)", w.ref, err)
			}
		}
	}
	check(s)
	// Segments left behind by a roll end at their last frame.
	for _, id := range segs[:len(segs)-1] {
		if n, want := fileLen(t, s, id), lastEnd(ends, id); n != want {
			t.Fatalf("rolled segment %d is %d bytes, its last frame ends at %d", id, n, want)
		}
	}

	// A crash (no Close): the next open finds every record before the
	// zeros and cuts them.
	last := ends[len(ends)-1]
	if fileLen(t, s, last.Segment) <= last.Offset {
		t.Fatalf("active segment not preallocated at the crash")
	}
	// A copy (backup) takes the frames, not the zeros.
	if end, err := DataEnd(s.active.f); err != nil || end != last.Offset {
		t.Fatalf("DataEnd %d (%v), want the last record's end %d", end, err, last.Offset)
	}
	s2, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, rep := scanPayloads(t, s2, Pos{})
	if len(got) != len(ends) || rep.ValidEnd[last.Segment] != last.Offset {
		t.Fatalf("after the crash: %d records (want %d), valid end %d (want %d)", len(got), len(ends), rep.ValidEnd[last.Segment], last.Offset)
	}
	keep := map[uint32]int64{}
	for id, end := range rep.ValidEnd {
		keep[id] = end
	}
	if _, err := s2.Recover(keep, 0); err != nil {
		t.Fatal(err)
	}
	if n := fileLen(t, s2, last.Segment); n != last.Offset {
		t.Fatalf("recovered segment is %d bytes, want %d", n, last.Offset)
	}
	check(s2)
	s.Close() // the crashed handle, after the new one took over

	// Close cuts the zeros of the active segment.
	writeBatches(t, s2, 3)
	id := s2.Active()
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, _ := Open(dir, opts)
	defer s3.Close()
	_, rep = scanPayloads(t, s3, Pos{})
	if n := fileLen(t, s3, id); n != rep.ValidEnd[id] {
		t.Fatalf("closed segment is %d bytes, its frames end at %d", n, rep.ValidEnd[id])
	}
}

// lastEnd is the end of the last record written to segment id.
func lastEnd(ends []Pos, id uint32) int64 {
	var e int64
	for _, p := range ends {
		if p.Segment == id {
			e = p.Offset
		}
	}
	return e
}
