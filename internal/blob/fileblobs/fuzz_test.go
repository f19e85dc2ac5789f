package fileblobs

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPath checks that no id, whatever a database row holds, names a file
// outside the blob directory.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"ab/0123456789abcdef0123456789abcd", "../../etc/passwd", "ab/..", "", "ab/" + strings.Repeat(".", 30)} {
		f.Add(s)
	}
	s := &Store{dir: "/srv/blobs"}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := s.path(id)
		if err != nil {
			return
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) || strings.Count(rel, string(filepath.Separator)) != 1 {
			t.Fatalf("id %q maps to %q", id, p)
		}
	})
}
