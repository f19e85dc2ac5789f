package fileblobs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/youju/youju/internal/blob/blobtest"
)

func TestConformance(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

// TestNoTempLeft checks that a failed Put leaves no temporary file and
// that ids from elsewhere (path tricks) are refused.
func TestNoTempLeft(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	s.Put(context.Background(), bytes.NewReader([]byte("short")), 50)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	for _, id := range []string{"../../etc/passwd", "ab/../../x", "zz/" + strings.Repeat("0", 30), ""} {
		if _, err := s.Open(context.Background(), id, -1); err == nil {
			t.Errorf("Open(%q) succeeded", id)
		}
		if err := s.Delete(context.Background(), id); err == nil {
			t.Errorf("Delete(%q) succeeded", id)
		}
	}
}
