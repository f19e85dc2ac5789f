package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCopySegmentIncremental: a segment whose copy matches the earlier
// manifest is only extended; one whose copy differs is copied again.
func TestCopySegmentIncremental(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "seg")
	dst := filepath.Join(dir, "copy")
	os.WriteFile(src, []byte("first part;"), 0o600)
	f, _ := os.Open(src)
	var rep Report
	one, kept, err := copySegment(f, dst, File{}, &rep)
	f.Close()
	if err != nil || kept || rep.Written != 11 {
		t.Fatalf("first copy: %+v %v %v %+v", one, kept, err, rep)
	}
	fa, _ := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	fa.WriteString("second part")
	fa.Close()
	f, _ = os.Open(src)
	rep = Report{}
	two, kept, err := copySegment(f, dst, one, &rep)
	f.Close()
	if err != nil || !kept || rep.Written != 11 || two.Size != 22 {
		t.Fatalf("second copy: %+v %v %v %+v", two, kept, err, rep)
	}
	if got, _ := os.ReadFile(dst); string(got) != "first part;second part" {
		t.Fatalf("copy = %q", got)
	}
	if want, _ := hashFile(src); want != two {
		t.Fatalf("manifest entry %+v, want %+v", two, want)
	}
	// The copy was damaged: the whole segment is written again.
	os.WriteFile(dst, []byte("XXXXXXXXXXXXXXXXXXXXXX"), 0o600)
	f, _ = os.Open(src)
	rep = Report{}
	three, kept, err := copySegment(f, dst, two, &rep)
	f.Close()
	if err != nil || kept || rep.Written != 22 || three != two {
		t.Fatalf("after damage: %+v %v %v %+v", three, kept, err, rep)
	}
}
