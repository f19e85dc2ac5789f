package blob

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// writeBatches writes n batches of two blobs, each with a record whose
// payload is the batch number, and returns the records' end positions.
func writeBatches(t *testing.T, s *Store, n int) []Pos {
	t.Helper()
	var ends []Pos
	for i := range n {
		_, end := writeBatch(t, s, [][]byte{bytes.Repeat([]byte{byte('a' + i)}, 40), []byte("second")}, []byte{byte(i)})
		ends = append(ends, end)
	}
	return ends
}

// writeBatch writes one batch of datas with a record of payload, syncs,
// and returns the blobs' refs and the record's end position.
func writeBatch(t *testing.T, s *Store, datas [][]byte, payload []byte) ([]Ref, Pos) {
	t.Helper()
	refs, regions, err := s.AppendBatch(datas)
	if err != nil {
		t.Fatal(err)
	}
	end, err := s.AppendRecord(regions, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Unpin(refs)
	return refs, end
}

func scanPayloads(t *testing.T, s *Store, from Pos) ([]byte, ScanReport) {
	t.Helper()
	var got []byte
	rep, err := s.Scan(from, func(_ Pos, p []byte) error {
		got = append(got, p...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, rep
}

func TestLogScan(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{SegmentSize: 300})
	s.Recover(nil, 0)
	ends := writeBatches(t, s, 6)
	if len(s.Segments()) < 2 {
		t.Fatalf("segments %v: want a roll", s.Segments())
	}
	if got, _ := scanPayloads(t, s, Pos{}); !bytes.Equal(got, []byte{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("all records: %v", got)
	}
	if got, _ := scanPayloads(t, s, ends[2]); !bytes.Equal(got, []byte{3, 4, 5}) {
		t.Fatalf("records after the third: %v", got)
	}
	s.Close()

	// A torn last record: the scan stops before it, and reports where.
	last := ends[5]
	os.Truncate(s.path(last.Segment), last.Offset-1)
	s, _ = Open(dir, Options{SegmentSize: 300})
	got, rep := scanPayloads(t, s, Pos{})
	if !bytes.Equal(got, []byte{0, 1, 2, 3, 4}) || rep.ValidEnd[last.Segment] >= last.Offset-1 {
		t.Fatalf("torn record: %v, %+v", got, rep)
	}
	s.Close()

	// A record whole but its region's bytes corrupted: not handed back.
	refs := ends[4]
	f, _ := os.OpenFile(s.path(refs.Segment), os.O_RDWR, 0)
	f.WriteAt([]byte("X"), segHeaderLen+regionHeaderLen+3)
	f.Close()
	s, _ = Open(dir, Options{SegmentSize: 300})
	defer s.Close()
	got, _ = scanPayloads(t, s, Pos{})
	for _, p := range got {
		if ends[p].Segment == refs.Segment {
			t.Fatalf("record %d of the corrupted segment handed back: %v", p, got)
		}
	}
}

func TestLogFloorAndFail(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	s.Recover(nil, 0)
	writeBatches(t, s, 1)
	s.Close()
	// The index's last record is in segment 5 (since removed): appends
	// must go to a segment above it, never to 1 again.
	s, _ = Open(dir, Options{})
	defer s.Close()
	if _, err := s.Recover(map[uint32]int64{1: 1 << 20}, 5); err != nil {
		t.Fatal(err)
	}
	refs, _, err := s.AppendBatch([][]byte{[]byte("x")})
	if err != nil || refs[0].Segment != 6 {
		t.Fatalf("append after floor 5: %+v %v", refs, err)
	}
	s.Fail(errors.New("disk on fire"))
	if _, _, err := s.AppendBatch([][]byte{[]byte("y")}); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after Fail: %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("sync after Fail: %v", err)
	}
}
