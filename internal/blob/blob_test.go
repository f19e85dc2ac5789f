package blob

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

func TestAppendReadRollRemove(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{SegmentSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recover(nil, 0); err != nil {
		t.Fatal(err)
	}
	var datas [][]byte
	for i := 0; i < 10; i++ {
		datas = append(datas, bytes.Repeat([]byte{byte('a' + i)}, 30+i))
	}
	refs, err := s.Append(datas)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Segments()) < 3 {
		t.Fatalf("segments = %v, want rolls at 100 bytes", s.Segments())
	}
	for i, r := range refs {
		rd, err := s.Open(r)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rd)
		rd.Close()
		if !bytes.Equal(got, datas[i]) {
			t.Fatalf("blob %d = %q", i, got)
		}
	}
	first := refs[0].Segment
	if ok, _ := s.Remove(first); ok {
		t.Fatal("pinned segment removed")
	}
	s.Unpin(refs)
	rd, _ := s.Open(refs[0])
	if ok, err := s.Remove(first); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	// An open reader keeps reading a removed segment.
	if got, _ := io.ReadAll(rd); !bytes.Equal(got, datas[0]) {
		t.Fatalf("read after remove = %q", got)
	}
	rd.Close()
	if _, err := s.Open(refs[0]); err != ErrNotFound {
		t.Fatalf("open removed = %v", err)
	}
	if ok, _ := s.Remove(s.Active()); ok {
		t.Fatal("active segment removed")
	}
}

func TestRecoverTruncatesTailsAndRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{SegmentSize: 1 << 20})
	s.Recover(nil, 0)
	refs, err := s.Append([][]byte{[]byte("hello"), []byte("world")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A half-written tail and an orphan segment, as a crash leaves them.
	f, _ := os.OpenFile(s.path(1), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("garbage"))
	f.Close()
	os.WriteFile(s.path(7), []byte("orphan"), 0o600)

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The index only knows the first blob.
	rep, err := s.Recover(map[uint32]int64{1: refs[0].End()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Truncated[1] != int64(len("world")+len("garbage")) || fmt.Sprint(rep.Removed) != "[7]" {
		t.Fatalf("report = %+v", rep)
	}
	if fi, _ := os.Stat(s.path(1)); fi.Size() != refs[0].End() {
		t.Fatalf("size = %d", fi.Size())
	}
	refs2, _ := s.Append([][]byte{[]byte("next")})
	if refs2[0] != (Ref{Segment: 1, Offset: refs[0].End() + regionHeaderLen, Length: 4}) {
		t.Fatalf("append after recover = %+v", refs2[0])
	}
}
